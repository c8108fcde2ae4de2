package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/droverha/drover/agent/ipvs"
	"github.com/droverha/drover/agent/vip"
	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/managers"
	"github.com/droverha/drover/model"
)

// Agent is one node's daemon. Create it with New and run it with Run.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	subjects bus.Subjects
	boot     string
	drops    bus.Drops

	srv *bus.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	pub *bus.Publisher

	ready chan struct{} // closed once the bus is up and subscribed
	// crash makes Run skip the graceful goodbye, as SIGKILL would; tests
	// set it to simulate a node dying.
	crash atomic.Bool

	mu          sync.Mutex // guards everything below
	members     *managers.Membership
	quorum      model.Quorum
	quorumKnown bool // quorum was reached at least once
	hbSeq       uint64
	leader      bool
	epoch       uint64
	stores      *bus.Stores
	elector     *bus.Elector
	records     map[string]managers.StoredRecord // the manager's cache of the nodes bucket
	vips        vipState
	udpSeen     map[string]time.Time // peer → last UDP heartbeat
	news        []desiredNews        // operators' changes the manager has yet to announce

	udp     *udpPath
	vipc    vip.Client
	vipWake chan struct{}
	beatNow chan struct{} // an extra heartbeat, to report a VIP change at once
	guard   *guard

	lb         lbState
	checks     prober
	ipvsc      ipvs.Client
	recon      reconState // used by ipvsLoop only
	healthWake chan struct{}
	ipvsWake   chan struct{}
	planWake   chan struct{}
}

// New checks cfg and returns an agent ready to Run.
func New(cfg Config) (*Agent, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	now := time.Now()
	a := &Agent{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "agent", "node", cfg.Node),
		subjects: bus.Subjects{Cluster: cfg.Cluster},
		boot:     hex.EncodeToString(b[:]),
		ready:    make(chan struct{}),
		members: managers.NewMembership(managers.MembershipConfig{
			Self: cfg.Node, Voters: cfg.Voters, SuspectAfter: cfg.SuspectAfter, DeadAfter: cfg.DeadAfter,
		}, now),
	}
	a.quorum = a.members.Quorum()
	a.vips = newVIPState(now)
	a.udpSeen = map[string]time.Time{}
	a.vipWake = make(chan struct{}, 1)
	a.beatNow = make(chan struct{}, 1)
	a.lb = newLBState()
	a.healthWake = make(chan struct{}, 1)
	a.ipvsWake = make(chan struct{}, 1)
	a.planWake = make(chan struct{}, 1)
	if cfg.Director && len(cfg.Services) > 0 {
		a.ipvsc = cfg.IPVS
		if a.ipvsc == nil {
			c, err := ipvs.New(ipvs.Options{})
			if err != nil {
				return nil, fmt.Errorf("IPVS for %d configured services: %w", len(cfg.Services), err)
			}
			a.ipvsc = c
		}
	}
	if len(cfg.VIP.Groups) > 0 {
		a.vipc = cfg.VIP.Client
		if a.vipc == nil {
			c, err := vip.New(vip.Options{})
			if err != nil {
				return nil, err
			}
			a.vipc = c
		}
	}
	return a, nil
}

// Ready is closed once the agent's bus is up and it listens for requests.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// ClientURL is the URL of the bus this agent uses.
func (a *Agent) ClientURL() string {
	if a.srv != nil {
		return a.srv.ClientURL()
	}
	return a.nc.ConnectedUrl()
}

// Server returns the embedded nats-server, nil with an external bus.
func (a *Agent) Server() *bus.Server { return a.srv }

// Boot identifies this agent process.
func (a *Agent) Boot() string { return a.boot }

// Run starts the agent and blocks until ctx ends, then leaves the cluster
// gracefully: it says goodbye, gives up the manager lease, flushes its
// events and stops the bus, within about a second.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.start(); err != nil {
		a.stopBus()
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.heartbeatLoop(runCtx) })
	wg.Go(func() { a.electionLoop(runCtx) })
	wg.Go(func() { a.vipLoop(runCtx) })
	wg.Go(func() { a.healthLoop(runCtx) })
	wg.Go(func() { a.ipvsLoop(runCtx) })
	wg.Go(func() { a.planLoop(runCtx) })
	<-ctx.Done()
	cancel()
	wg.Wait()
	if !a.crash.Load() {
		a.leave()
	}
	a.stopBus()
	return nil
}

func (a *Agent) start() error {
	c := a.cfg
	cc := bus.ClientConfig{Name: "drover-agent-" + c.Node, Reconnect: true}
	if c.Embedded != nil {
		srv, err := bus.StartServer(bus.ServerConfig{
			Name: c.Node, Cluster: c.Cluster, Listen: c.Embedded.Listen,
			StoreDir:      filepath.Join(c.DataDir, "jetstream"),
			ClusterListen: c.Embedded.ClusterListen, Advertise: c.Embedded.Advertise,
			Routes: c.Embedded.Routes, Logger: c.Logger.With("component", "nats"),
		})
		if err != nil {
			return err
		}
		a.srv = srv
		cc.InProcess = srv
	} else {
		cc.URLs, cc.Credentials, cc.TLS = c.External.URLs, c.External.Credentials, c.External.TLS
		cc.Timeout = 5 * time.Second
	}
	if len(c.VIP.Groups) > 0 {
		a.adoptHeld()
		if err := a.startGuard(); err != nil {
			return err
		}
	}
	if err := a.startUDP(); err != nil {
		return err
	}
	nc, err := bus.Connect(cc)
	if err != nil {
		return err
	}
	a.nc = nc
	a.js, err = jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	a.pub = bus.NewPublisher(a.js, a.subjects, 10000, a.log)
	subs := []struct {
		subj, queue string
		h           nats.MsgHandler
	}{
		{a.subjects.Heartbeats(), "", a.onHeartbeat},
		{a.subjects.Leaves(), "", a.onLeave},
		{a.subjects.Status(), bus.StatusQueue, a.onStatus},
		{a.subjects.StatusOf(c.Node), "", a.onStatus},
		{a.subjects.VIPAssignments(), "", a.onAssignments},
	}
	for _, s := range subs {
		if _, err := nc.QueueSubscribe(s.subj, s.queue, s.h); err != nil {
			return fmt.Errorf("subscribing to %s: %w", s.subj, err)
		}
	}
	if err := a.startLB(); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("subscribing: %w", err)
	}
	a.emit(bus.EventConfigApplied, c.Node, 0, bus.EventData{Node: c.Node, Digest: c.ConfigDigest, Boot: a.boot})
	close(a.ready)
	a.log.Info("agent started", "cluster", c.Cluster, "bus", a.ClientURL(), "boot", a.boot, "voters", c.Voters)
	return nil
}

func (a *Agent) stopBus() {
	a.stopLB()
	if a.udp != nil {
		a.udp.conn.Close()
	}
	if a.pub != nil {
		a.pub.Close()
	}
	if a.nc != nil {
		a.nc.Close()
	}
	if a.srv != nil {
		start := time.Now()
		a.srv.Shutdown()
		a.log.Debug("bus server stopped", "took", time.Since(start))
	}
}

// leave is the graceful goodbye. Every step is bounded so the whole takes
// well under the 2 s an init system waits.
func (a *Agent) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	bye := bus.Leave{V: bus.Version, Node: a.cfg.Node, Boot: a.boot, Sent: time.Now().UTC(), Reason: "shutdown"}
	a.mu.Lock()
	if held := a.groupNames(a.vips.held); len(held) > 0 {
		// Keep the VIPs for a restart to pick up; the manager waits as long.
		// The manager waits a little longer than the guard does.
		bye.Held, bye.GraceMS = held, (a.cfg.VIP.RestartGrace + a.cfg.VIP.SelfFenceAfter).Milliseconds()
		bye.Reason = fmt.Sprintf("shutdown; keeping VIP groups %v for %v for a restart", held, a.cfg.VIP.RestartGrace)
	}
	a.mu.Unlock()
	if bye.GraceMS > 0 {
		a.guard.grace(a.cfg.VIP.RestartGrace)
	}
	if b, err := bus.Encode(bye); err == nil {
		_ = a.nc.Publish(a.subjects.Leave(a.cfg.Node), b)
	}
	a.mu.Lock()
	stores, el, leader, epoch := a.stores, a.elector, a.leader, a.epoch
	a.leader, a.epoch = false, 0
	a.mu.Unlock()
	if stores != nil {
		rctx, rcancel := context.WithTimeout(ctx, 400*time.Millisecond)
		a.recordOwnLeave(rctx, stores.Nodes)
		rcancel()
	}
	if el != nil {
		el.Resign(ctx) // also gives up a grant kept to resume after a bus stall
	}
	if el != nil && leader {
		a.emit(bus.EventManagerResigned, a.cfg.Node, epoch, bus.EventData{Node: a.cfg.Node, Epoch: epoch, Reason: "shutdown"})
	}
	if err := a.pub.Flush(ctx); err != nil {
		a.log.Warn("events not flushed before shutdown", "err", err)
	}
	_ = a.nc.FlushTimeout(200 * time.Millisecond)
	a.log.Info("agent stopped")
}

// recordOwnLeave marks this node as left in the nodes bucket and announces
// it, unless the manager already did.
func (a *Agent) recordOwnLeave(ctx context.Context, kv jetstream.KeyValue) {
	now := time.Now().UTC()
	rec := bus.NodeRecord{V: bus.Version, Node: a.cfg.Node, State: model.NodeLeft, Since: now, Boot: a.boot, Reason: "left the cluster: shutdown"}
	b, err := bus.Encode(rec)
	if err != nil {
		return
	}
	prev := model.NodeUnknown
	e, err := kv.Get(ctx, a.cfg.Node)
	switch {
	case err == nil:
		if r, derr := bus.DecodeNodeRecord(e.Value()); derr == nil {
			prev = r.State
			if r.State == model.NodeLeft && r.Boot == a.boot {
				return
			}
		}
		_, err = kv.Update(ctx, a.cfg.Node, b, e.Revision())
	case errors.Is(err, jetstream.ErrKeyNotFound):
		_, err = kv.Create(ctx, a.cfg.Node, b)
	}
	if err != nil {
		a.log.Debug("could not record own leave", "err", err)
		return
	}
	a.emit(bus.EventNodeLeft, a.cfg.Node, 0, bus.EventData{Node: a.cfg.Node, State: model.NodeLeft.String(),
		Previous: prev.String(), Reason: rec.Reason, Boot: a.boot})
}

func (a *Agent) emit(typ, subject string, epoch uint64, d bus.EventData) {
	e, err := bus.NewEvent(a.cfg.Cluster, a.cfg.Node, typ, subject, epoch, d, time.Now())
	if err != nil {
		a.log.Error("building event", "event", typ, "err", err)
		return
	}
	a.pub.Publish(e)
	if a.cfg.OnEvent != nil {
		a.cfg.OnEvent(e)
	}
}

func (a *Agent) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		a.beat(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.beatNow:
		}
	}
}

// beat ages the membership view, notices quorum changes and sends one
// heartbeat.
func (a *Agent) beat(now time.Time) {
	a.mu.Lock()
	trans := a.members.Tick(now)
	prev, q := a.quorum, a.members.Quorum()
	a.quorum = q
	var qev string
	switch {
	case !a.quorumKnown && q.Have:
		a.quorumKnown = true
	case a.quorumKnown && prev.Have && !q.Have:
		qev = bus.EventQuorumLost
	case a.quorumKnown && !prev.Have && q.Have:
		qev = bus.EventQuorumRegained
	}
	a.members.SetSelf(a.leader, a.epoch, q.Have, a.boot, a.cfg.Version)
	a.hbSeq++
	held, yielded := a.groupNames(a.vips.held), a.groupNames(a.vips.yielded)
	udp := a.udpAgesLocked(now, a.cfg.DeadAfter)
	candidate := a.cfg.VIP.Candidate(a.cfg.Node)
	a.members.SetSelfVIPs(held, yielded, udp, candidate, now)
	hb := bus.Heartbeat{V: bus.Version, Node: a.cfg.Node, Boot: a.boot, Seq: a.hbSeq, Sent: now.UTC(),
		IntervalMS: a.cfg.HeartbeatInterval.Milliseconds(), Quorum: q.Have, Manager: a.leader, Epoch: a.epoch,
		Version: a.cfg.Version, Held: held, Yielded: yielded, UDP: udp, Candidate: candidate}
	seq := a.hbSeq
	if !a.leader {
		hb.Epoch = 0
	}
	a.mu.Unlock()
	a.logTransitions(trans)
	if qev != "" {
		a.log.Warn("quorum changed", "event", qev, "present", q.Present, "voters", q.Voters)
		a.emit(qev, a.cfg.Node, 0, bus.EventData{Node: a.cfg.Node, Present: q.Present, Voters: q.Voters})
	}
	if b, err := bus.Encode(hb); err == nil {
		_ = a.nc.Publish(a.subjects.Heartbeat(a.cfg.Node), b)
	}
	a.sendUDP(seq)
	a.guard.hold(a.cfg.VIP.Groups, held, yielded)
}

func (a *Agent) logTransitions(ts []managers.Transition) {
	for _, t := range ts {
		a.log.Info("node state changed", "peer", t.Node, "from", t.From.String(), "to", t.To.String(), "reason", t.Reason)
	}
}

func (a *Agent) onHeartbeat(m *nats.Msg) {
	h, err := bus.DecodeHeartbeat(m.Data)
	if err == nil && !strings.HasSuffix(m.Subject, "."+h.Node) {
		err = fmt.Errorf("%w: heartbeat for %q on subject %s", bus.ErrMalformed, h.Node, m.Subject)
	}
	if a.drops.Count(err) {
		a.log.Debug("dropped heartbeat", "subject", m.Subject, "err", err)
		return
	}
	now := time.Now()
	a.mu.Lock()
	if h.Manager && h.Epoch < a.members.MaxEpoch() {
		// A manager claim from an older epoch: that node has been replaced.
		a.drops.Count(bus.ErrStaleEpoch)
		h.Manager, h.Epoch = false, 0
	}
	trans := a.members.Heartbeat(h, now)
	a.mu.Unlock()
	a.logTransitions(trans)
	if len(h.Yielded) > 0 || len(h.Held) > 0 {
		// A handover waits on what the other side holds: look again now.
		wake(a.vipWake)
	}
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (a *Agent) onLeave(m *nats.Msg) {
	l, err := bus.DecodeLeave(m.Data)
	if err == nil && !strings.HasSuffix(m.Subject, "."+l.Node) {
		err = fmt.Errorf("%w: leave for %q on subject %s", bus.ErrMalformed, l.Node, m.Subject)
	}
	if a.drops.Count(err) {
		return
	}
	a.mu.Lock()
	trans := a.members.Leave(l, time.Now())
	a.mu.Unlock()
	a.logTransitions(trans)
}

func (a *Agent) onStatus(m *nats.Msg) {
	if _, err := bus.DecodeStatusRequest(m.Data); a.drops.Count(err) {
		return
	}
	b, err := bus.Encode(a.View())
	if err != nil || m.Reply == "" {
		return
	}
	_ = m.Respond(b)
}

// View is this agent's picture of the cluster now.
func (a *Agent) View() model.View {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	v := model.View{
		V: model.ViewVersion, Cluster: a.cfg.Cluster, Observer: a.cfg.Node, Time: now.UTC(),
		Quorum: a.quorum, Nodes: a.members.Nodes(now), Dropped: a.drops.Snapshot(),
		VIPGroups: a.vipViewLocked(), Services: a.servicesViewLocked(now),
	}
	for i, n := range v.Nodes {
		v.Nodes[i].UDP = a.members.UDPHeard(n.Name, a.cfg.DeadAfter, now) || a.udpSeen[n.Name].After(now.Add(-a.cfg.DeadAfter))
		v.Nodes[i].BusIsolated = n.State == model.NodeDead && v.Nodes[i].UDP
		v.Nodes[i].Drained = a.vips.drained[n.Name]
		if (n.State == model.NodeDead || n.State == model.NodeLeft) && !v.Nodes[i].BusIsolated {
			// What a dead node last said it held is history, not state.
			v.Nodes[i].Held = nil
		}
	}
	if a.quorum.Have {
		v.Manager, v.Epoch = a.members.Manager()
		if a.leader {
			v.Manager, v.Epoch = a.cfg.Node, a.epoch
		}
	}
	return v
}

func (a *Agent) electionLoop(ctx context.Context) {
	stores, err := bus.OpenStores(ctx, a.js, a.subjects, bus.StoreConfig{
		Replicas: a.cfg.Replicas(), LeaseTTL: a.cfg.LeaseTTL,
		EventsMaxAge: a.cfg.EventsMaxAge, EventsMaxBytes: a.cfg.EventsMaxBytes,
	})
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error("JetStream state unavailable", "err", err)
		}
		return
	}
	go a.watchDesired(ctx, stores.Desired)
	el := bus.NewElector(bus.NewLease(stores.Election, a.cfg.Node, a.boot, nil), a.cfg.LeaseTTL, a.cfg.HeartbeatInterval)
	a.mu.Lock()
	a.stores, a.elector = stores, el
	a.mu.Unlock()
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	var lastPlacementCheck time.Time
	for {
		a.mu.Lock()
		q := a.quorum.Have
		a.mu.Unlock()
		leading, _ := el.Leader()
		if !leading && a.shouldHandOver() {
			q = false // leave the manager's job to a node that owns no VIPs
		}
		d := el.Step(ctx, time.Now(), q)
		if ctx.Err() != nil {
			return
		}
		switch d.Change {
		case bus.Elected:
			a.mu.Lock()
			a.leader, a.epoch, a.records, a.vips.current, a.lb.decided = true, d.Epoch, nil, nil, nil
			a.mu.Unlock()
			a.log.Info("elected manager", "epoch", d.Epoch)
			a.emit(bus.EventManagerElected, a.cfg.Node, d.Epoch, bus.EventData{Node: a.cfg.Node, Epoch: d.Epoch, Reason: d.Reason})
		case bus.SteppedDown:
			a.mu.Lock()
			a.leader, a.epoch, a.records, a.vips.current, a.lb.decided = false, 0, nil, nil, nil
			a.mu.Unlock()
			a.log.Warn("stepped down as manager", "epoch", d.Epoch, "reason", d.Reason, "err", d.Err)
			a.emit(bus.EventManagerResigned, a.cfg.Node, d.Epoch, bus.EventData{Node: a.cfg.Node, Epoch: d.Epoch, Reason: d.Reason})
		}
		if leader, epoch := el.Leader(); leader && a.shouldHandOver() {
			el.Resign(ctx)
			a.mu.Lock()
			a.leader, a.epoch, a.records, a.vips.current, a.lb.decided = false, 0, nil, nil, nil
			a.mu.Unlock()
			reason := "handing over to a node that owns no VIP groups"
			a.log.Info("resigned as manager", "epoch", epoch, "reason", reason)
			a.emit(bus.EventManagerResigned, a.cfg.Node, epoch, bus.EventData{Node: a.cfg.Node, Epoch: epoch, Reason: reason})
		}
		if leader, epoch := el.Leader(); leader {
			a.placeVIPs(ctx, stores, epoch)
			a.manage(ctx, stores.Nodes, epoch)
			a.announceDesired(epoch)
			if time.Since(lastPlacementCheck) > 2*time.Second {
				lastPlacementCheck = time.Now()
				a.keepLeaseStreamLeaderHere(ctx, stores)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// keepLeaseStreamLeaderHere moves the Raft leadership of the lease's
// stream to this node while it is the manager, so that no other node's
// death can stall lease renewals (see docs/benchmarks.md).
func (a *Agent) keepLeaseStreamLeaderHere(ctx context.Context, stores *bus.Stores) {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.LeaseTTL/4)
	defer cancel()
	leader, err := stores.LeaseStreamLeader(cctx)
	if err != nil || leader == "" || leader == a.cfg.Node {
		return
	}
	if err := stores.MoveLeaseStreamLeader(cctx, a.subjects.ElectionBucket(), a.cfg.Node); err != nil {
		a.log.Debug("lease stream leadership stays on "+leader, "err", err)
		return
	}
	a.log.Info("moved the lease stream's Raft leadership to the manager", "from", leader)
}

// shouldHandOver: a node that may own VIP groups leaves the manager's job
// to one that cannot, when one is alive with quorum, so that losing a
// director never also loses the manager.
func (a *Agent) shouldHandOver() bool {
	if !a.cfg.VIP.Candidate(a.cfg.Node) {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.members.NonCandidatePresent()
}

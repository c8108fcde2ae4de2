package agent

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/managers"
	"github.com/droverha/drover/model"
)

// yieldHold is how long a yielded group keeps serving after its new owner
// holds it: longer than Linux's default ARP locktime (1 s).
const yieldHold = 1500 * time.Millisecond

// delaySample is one snapshot's apparent delay: local arrival time minus
// the manager's sending time. It includes the clock offset between the two
// hosts, which cancels out when samples are compared.
type delaySample struct {
	at    time.Time
	delay time.Duration
	epoch uint64
}

// vipState is the agent's side of VIP ownership.
type vipState struct {
	assign    map[string]bus.Assignment // the newest accepted decisions
	assignKey [2]uint64                 // epoch, seq of the snapshot they came in
	assignAt  time.Time                 // when it arrived
	delays    []delaySample             // recent (arrival − sent) of snapshots, for lateness
	held      map[string]bool           // groups whose addresses are up here
	yielded   map[string]bool           // held, but no longer answering ARP (handover)
	lastGARP  map[string]time.Time
	handed    map[string]time.Time // when the new owner of a yielded group first reported it
	repeatDue map[string]time.Time
	contact   time.Time // last time this node heard a bus majority or a UDP peer
	touched   bool      // contact was made since the agent started
	fenced    bool
	started   time.Time

	// Manager side.
	current map[string]bus.Assignment // the manager's last placement
	seq     uint64
	drained map[string]bool
	moves   map[string]bus.Desired
}

func newVIPState(now time.Time) vipState {
	return vipState{assign: map[string]bus.Assignment{}, held: map[string]bool{}, yielded: map[string]bool{},
		lastGARP: map[string]time.Time{}, handed: map[string]time.Time{}, repeatDue: map[string]time.Time{}, contact: now, started: now,
		drained: map[string]bool{}, moves: map[string]bus.Desired{}}
}

func (a *Agent) groupNames(m map[string]bool) []string {
	var out []string
	for g, ok := range m {
		if ok {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

// adoptHeld records groups whose addresses are already up at start (a
// restart): they are reported held, and the manager leaves them here.
func (a *Agent) adoptHeld() {
	for _, g := range a.cfg.VIP.Groups {
		if ok, err := a.vipc.Held(g.Driver()); err == nil && ok {
			a.mu.Lock()
			a.vips.held[g.Name] = true
			a.mu.Unlock()
			a.log.Info("VIP group already up at start; keeping it", "group", g.Name)
		}
	}
}

func (a *Agent) onAssignments(m *nats.Msg) {
	as, err := bus.DecodeAssignments(m.Data)
	if a.drops.Count(err) {
		return
	}
	a.mu.Lock()
	if as.Epoch < a.members.MaxEpoch() {
		a.mu.Unlock()
		a.drops.Count(bus.ErrStaleEpoch)
		return
	}
	// A snapshot held up on the way (a TCP route survives a short link cut
	// and delivers what it had queued when the link returns) must not act:
	// it is judged against the quickest snapshot of the last 10 s, which
	// cancels the clock offset between the hosts.
	now := time.Now()
	delay := now.Sub(as.Sent)
	keep := a.vips.delays[:0]
	least := delay
	for _, d := range a.vips.delays {
		if d.epoch == as.Epoch && now.Sub(d.at) <= 10*time.Second {
			keep = append(keep, d)
			least = min(least, d.delay)
		}
	}
	a.vips.delays = append(keep, delaySample{at: now, delay: delay, epoch: as.Epoch})
	if late := delay - least; late > a.cfg.VIP.SelfFenceAfter && len(a.cfg.VIP.Groups) > 0 {
		a.mu.Unlock()
		a.drops.Count(fmt.Errorf("%w: VIP decision seq %d arrived %v late", bus.ErrLate, as.Seq, late.Round(time.Millisecond)))
		a.log.Debug("dropped a late VIP decision", "seq", as.Seq, "late", late)
		return
	}
	key := [2]uint64{as.Epoch, as.Seq}
	if key[0] < a.vips.assignKey[0] || (key[0] == a.vips.assignKey[0] && key[1] <= a.vips.assignKey[1]) {
		a.mu.Unlock()
		return
	}
	a.vips.assignKey = key
	a.vips.assignAt = time.Now()
	old := a.vips.assign
	a.vips.assign = map[string]bus.Assignment{}
	for _, g := range as.Groups {
		a.vips.assign[g.Group] = g
		if o := old[g.Group]; o.Owner != g.Owner || o.From != g.From {
			a.log.Debug("new VIP decision", "group", g.Group, "owner", g.Owner, "from", g.From, "epoch", as.Epoch, "seq", as.Seq, "sent", as.Sent)
		}
	}
	a.mu.Unlock()
	wake(a.vipWake)
}

// vipLoop reconciles this node's VIPs every heartbeat interval and at once
// when a new placement arrives.
func (a *Agent) vipLoop(ctx context.Context) {
	if len(a.cfg.VIP.Groups) == 0 {
		return
	}
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		a.reconcileVIPs(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.vipWake:
		}
	}
}

// lastContactLocked is when this node last heard a bus majority or any
// UDP peer: its self-fence clock runs from there.
func (a *Agent) lastContactLocked(now time.Time) time.Time {
	t := a.members.MajorityHeardAt(a.quorum.Needed, now)
	for _, u := range a.udpSeen {
		if u.After(t) {
			t = u
		}
	}
	return t
}

func (a *Agent) reconcileVIPs(ctx context.Context, now time.Time) {
	a.mu.Lock()
	if c := a.lastContactLocked(now); c.After(a.vips.contact) {
		a.vips.contact = c
		a.vips.touched = a.vips.touched || c.After(a.vips.started)
	}
	if a.vips.fenced && now.Sub(a.vips.contact) < a.cfg.VIP.SelfFenceAfter {
		a.vips.fenced = false
		a.log.Info("contact regained: VIP groups may be held again")
	}
	// Right after start the peers are not heard yet: a restart keeps the
	// VIPs it adopted for the restart grace, unless contact was made and
	// lost since.
	fence := now.Sub(a.vips.contact) >= a.cfg.VIP.SelfFenceAfter &&
		(a.vips.touched || now.Sub(a.vips.started) >= a.cfg.VIP.RestartGrace)
	assign := a.vips.assign
	// Only a fresh decision may bring addresses up: one that arrived before
	// this node was cut off may have been overtaken while it was away.
	fresh := now.Sub(a.vips.assignAt) <= a.cfg.VIP.SelfFenceAfter
	held := maps(a.vips.held)
	yielded := maps(a.vips.yielded)
	a.mu.Unlock()

	for _, gc := range a.cfg.VIP.Groups {
		g := gc.Driver()
		as, decided := assign[g.Name]
		switch {
		case fence:
			if held[g.Name] || yielded[g.Name] {
				a.releaseVIP(ctx, gc, fmt.Sprintf("self-fenced: no bus majority and no UDP peer for %v", now.Sub(a.vips.contact).Round(time.Millisecond)))
				a.mu.Lock()
				a.vips.fenced = true
				a.mu.Unlock()
			}
		case decided && as.Owner == a.cfg.Node && !fresh && !held[g.Name]:
			continue // wait for a current decision
		case decided && as.Owner == a.cfg.Node:
			// A group this node yielded (still up on lo, not answering
			// ARP) is not answered here: taking it back must wait for the
			// owner it was handed to to let go, like any handover.
			answering := held[g.Name] && !yielded[g.Name]
			if as.From != "" && as.From != a.cfg.Node && !answering && !a.letGo(as.From, g.Name) && now.Sub(as.Since) < 2*time.Second {
				continue // the previous owner has not stopped answering ARP yet
			}
			a.acquireVIP(ctx, gc, yielded[g.Name], as.Reason, now)
		case decided:
			if !held[g.Name] && !yielded[g.Name] {
				continue
			}
			if yielded[g.Name] {
				// Keep serving what still comes our way until clients have
				// surely switched: a client ignores a gratuitous ARP for an
				// entry it confirmed less than locktime (1 s) ago, and
				// learns the new MAC from the next burst or its own query.
				if as.Owner != "" && !a.holds(as.Owner, g.Name) {
					continue // the new owner is not up yet
				}
				a.mu.Lock()
				if a.vips.handed[g.Name].IsZero() {
					a.vips.handed[g.Name] = now
				}
				since := now.Sub(a.vips.handed[g.Name])
				a.mu.Unlock()
				if since < yieldHold {
					continue
				}
			} else if as.From == a.cfg.Node && as.Owner != "" && !a.holds(as.Owner, g.Name) && a.present(as.Owner) {
				a.yieldVIP(ctx, gc)
				continue
			}
			reason := "assigned to " + as.Owner
			if as.Owner == "" {
				reason = "assigned to nobody: " + as.Reason
			}
			a.releaseVIP(ctx, gc, reason)
		}
	}
}

func maps(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// letGo reports whether the previous owner in a graceful move has said it
// stopped answering for group (yielded or released), or is gone. Silence
// is not enough: a node that just started may not have heard it yet.
func (a *Agent) letGo(node, group string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch a.members.State(node) {
	case model.NodeDead, model.NodeLeft:
		return true
	case model.NodeUnknown:
		return false
	}
	return a.members.Yielded(node, group) || !a.members.Holds(node, group)
}

func (a *Agent) holds(node, group string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.members.Holds(node, group)
}

func (a *Agent) present(node string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.members.State(node).Present()
}

func (a *Agent) acquireVIP(ctx context.Context, gc VIPGroup, wasYielded bool, reason string, now time.Time) {
	g := gc.Driver()
	if wasYielded {
		if err := a.vipc.Unyield(ctx, g); err != nil {
			a.log.Warn("taking a yielded VIP group back", "group", g.Name, "err", err)
		}
	}
	changed, err := a.vipc.Acquire(ctx, g)
	if err != nil {
		a.log.Error("acquiring VIP group", "group", g.Name, "err", err)
		return
	}
	a.mu.Lock()
	wasHeld := a.vips.held[g.Name]
	a.vips.held[g.Name], a.vips.yielded[g.Name] = true, false
	announce := changed || !wasHeld || wasYielded
	if due, ok := a.vips.repeatDue[g.Name]; ok && !now.Before(due) {
		announce = true
		delete(a.vips.repeatDue, g.Name)
	}
	if g.GARP.Refresh > 0 && now.Sub(a.vips.lastGARP[g.Name]) >= g.GARP.Refresh {
		announce = true
	}
	if changed || !wasHeld {
		if g.GARP.RepeatAfter > 0 {
			a.vips.repeatDue[g.Name] = now.Add(g.GARP.RepeatAfter)
		}
	}
	if announce {
		a.vips.lastGARP[g.Name] = now
	}
	a.mu.Unlock()
	if announce {
		// The first frame goes out at once; the rest of the burst must not
		// hold up the other groups.
		go func() {
			if err := a.vipc.Announce(context.WithoutCancel(ctx), g); err != nil {
				a.log.Warn("announcing VIP group", "group", g.Name, "err", err)
			}
		}()
	}
	if !wasHeld || changed {
		wake(a.beatNow) // the old owner drops the group once we report it
		a.log.Info("VIP group acquired", "group", g.Name, "reason", reason, "restored", wasHeld && changed)
		a.emit(bus.EventVIPAcquired, a.cfg.Node, 0, bus.EventData{Node: a.cfg.Node, Group: g.Name, Reason: reason,
			Addresses: prefixes(g.Addresses)})
	}
}

func (a *Agent) yieldVIP(ctx context.Context, gc VIPGroup) {
	g := gc.Driver()
	if err := a.vipc.Yield(ctx, g); err != nil {
		a.log.Error("yielding VIP group", "group", g.Name, "err", err)
		return
	}
	a.mu.Lock()
	a.vips.yielded[g.Name] = true
	a.mu.Unlock()
	wake(a.beatNow) // the new owner is waiting for this
	a.log.Info("VIP group yielded for a graceful handover", "group", g.Name)
}

func (a *Agent) releaseVIP(ctx context.Context, gc VIPGroup, reason string) {
	g := gc.Driver()
	if err := a.vipc.Release(ctx, g); err != nil {
		a.log.Error("releasing VIP group", "group", g.Name, "err", err)
		return
	}
	a.mu.Lock()
	delete(a.vips.held, g.Name)
	delete(a.vips.yielded, g.Name)
	delete(a.vips.handed, g.Name)
	delete(a.vips.repeatDue, g.Name)
	a.mu.Unlock()
	a.log.Info("VIP group released", "group", g.Name, "reason", reason)
	a.emit(bus.EventVIPReleased, a.cfg.Node, 0, bus.EventData{Node: a.cfg.Node, Group: g.Name, Reason: reason,
		Addresses: prefixes(g.Addresses)})
}

func prefixes(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// placeVIPs is the manager's VIP duty for one round: decide, publish on core
// NATS (takeover must not wait on JetStream), record changes in KV.
func (a *Agent) placeVIPs(ctx context.Context, stores *bus.Stores, epoch uint64) {
	if len(a.cfg.VIP.Groups) == 0 {
		return
	}
	now := time.Now()
	groups := make([]model.VIPGroup, len(a.cfg.VIP.Groups))
	for i, g := range a.cfg.VIP.Groups {
		groups[i] = g.VIPGroup
	}
	a.mu.Lock()
	if a.vips.current == nil {
		// Start from the newest placement this node received as a follower.
		a.vips.current = map[string]bus.Assignment{}
		for k, v := range a.vips.assign {
			a.vips.current[k] = v
		}
	}
	in := managers.VIPInput{
		Groups: groups, Current: a.vips.current, Moves: a.vips.moves, Now: now,
		Nodes: a.members.Infos(a.vips.drained, a.cfg.DeadAfter, now),
	}
	// This node's own UDP receipts count as well.
	for n := range a.udpAgesLocked(now, a.cfg.DeadAfter) {
		if ni, ok := in.Nodes[n]; ok {
			ni.UDPHeard = true
			in.Nodes[n] = ni
		}
	}
	out, moves := managers.PlaceVIPs(in)
	next := map[string]bus.Assignment{}
	for _, as := range out {
		next[as.Group] = as
	}
	changed := changedGroups(a.vips.current, next)
	a.vips.current = next
	a.vips.seq++
	snap := bus.Assignments{V: bus.Version, Epoch: epoch, Seq: a.vips.seq, Sent: now.UTC(), Groups: out}
	a.mu.Unlock()

	if b, err := bus.Encode(snap); err == nil {
		_ = a.nc.Publish(a.subjects.VIPAssignments(), b)
	}
	for _, mv := range moves {
		a.log.Info("VIP group placed", "group", mv.Group, "from", mv.From, "to", mv.To, "reason", mv.Reason, "epoch", epoch)
		a.emit(bus.EventVIPMoved, mv.Group, epoch, bus.EventData{Group: mv.Group, From: mv.From, To: mv.To, Reason: mv.Reason, Epoch: epoch})
	}
	if stores != nil && stores.VIPs != nil {
		for _, as := range changed {
			if b, err := bus.Encode(bus.VIPRecord{V: bus.Version, Epoch: epoch, Assignment: as}); err == nil {
				cctx, cancel := context.WithTimeout(ctx, a.cfg.LeaseTTL/4)
				if _, err := stores.VIPs.Put(cctx, as.Group, b); err != nil {
					a.log.Debug("recording VIP assignment", "group", as.Group, "err", err)
				}
				cancel()
			}
		}
	}
}

func changedGroups(old, next map[string]bus.Assignment) []bus.Assignment {
	var out []bus.Assignment
	for g, as := range next {
		o, ok := old[g]
		if !ok || o.Owner != as.Owner || o.From != as.From || o.Reason != as.Reason {
			out = append(out, as)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// watchDesired keeps the operators' drains, moves and real servers'
// administrative states in memory; every agent watches so that a new
// manager knows them at once. What the watch delivers before its initial
// values are done is loaded, not news: only later changes are announced.
func (a *Agent) watchDesired(ctx context.Context, kv jetstream.KeyValue) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		a.log.Warn("watching operator requests", "err", err)
		return
	}
	defer w.Stop()
	loaded := false
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				loaded = true // initial values done
				continue
			}
			a.applyDesired(e, loaded, time.Now())
		}
	}
}

// applyDesired takes in one entry of the desired bucket; news says it is
// a change made now rather than one loaded at start.
func (a *Agent) applyDesired(e jetstream.KeyValueEntry, news bool, now time.Time) {
	key := e.Key()
	del := e.Operation() != jetstream.KeyValuePut
	var d bus.Desired
	if !del {
		var err error
		if d, err = bus.DecodeDesired(e.Value()); a.drops.Count(err) {
			return
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case strings.HasPrefix(key, bus.DrainPrefix):
		node := strings.TrimPrefix(key, bus.DrainPrefix)
		was := a.vips.drained[node]
		if del || !d.Drained {
			delete(a.vips.drained, node)
		} else {
			a.vips.drained[node] = true
		}
		if news && was != a.vips.drained[node] {
			a.noteDrainLocked(key, e.Revision(), node, a.vips.drained[node], d.By, now)
		}
	case strings.HasPrefix(key, bus.MovePrefix):
		g := strings.TrimPrefix(key, bus.MovePrefix)
		if del {
			delete(a.vips.moves, g)
		} else {
			a.vips.moves[g] = d
		}
	case strings.HasPrefix(key, bus.RealServerPrefix):
		a.applyAdminLocked(key, e.Revision(), del, d, news, now)
	}
}

// vipViewLocked renders the configured groups for the cluster view.
func (a *Agent) vipViewLocked() []model.VIPGroupView {
	var out []model.VIPGroupView
	for _, g := range a.cfg.VIP.Groups {
		v := model.VIPGroupView{Name: g.Name, Addresses: prefixes(g.Addresses), VirtualMAC: g.VirtualMAC,
			HeldBy: a.members.Holders(g.Name)}
		for _, c := range g.Ranked() {
			v.Candidates = append(v.Candidates, model.CandidateView(c))
		}
		as, ok := a.vips.assign[g.Name]
		if a.leader && a.vips.current != nil {
			as, ok = a.vips.current[g.Name]
		}
		if ok {
			v.Owner, v.From, v.Reason, v.Since, v.Epoch = as.Owner, as.From, as.Reason, as.Since, a.vips.assignKey[0]
			if a.leader {
				v.Epoch = a.epoch
			}
		} else {
			v.Reason = "no decision received from a manager yet"
		}
		out = append(out, v)
	}
	return out
}

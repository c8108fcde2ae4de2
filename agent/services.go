package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/droverha/drover/agent/check"
	"github.com/droverha/drover/agent/ipvs"
	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/managers"
	"github.com/droverha/drover/model"
)

// Load balancing, in three parts that talk over core NATS only:
//
//   - every node that probes (directors, and real-server agents for their
//     own services) publishes its check results on health.<node>;
//   - the manager turns the configured services and the fresh results into
//     the IPVS table (managers.PlanServices) and publishes it on
//     ipvs.table, changes at once and the whole every few seconds;
//   - directors program the table into the kernel (ipvs.Reconcile) and
//     publish their counters on ipvs.stats.<node>.
const (
	healthFullEvery  = time.Second     // every result is repeated this often
	healthStaleAfter = 3 * time.Second // a result not repeated for this long no longer counts
	tableFullEvery   = 2 * time.Second // the manager repeats the whole table this often
	ipvsResync       = 5 * time.Second // directors re-read the kernel table this often
	statsEvery       = 2 * time.Second
	chunk            = 500 // entries per message of a repeated whole
)

// lbState is the load-balancing part of the agent, guarded by Agent.mu.
type lbState struct {
	health map[string]map[string]healthEntry // node → probe ID → latest
	table  map[string]tableEntry             // service → the newest decision received
	epoch  uint64                            // newest table epoch seen
	synced bool                              // a whole table has been received
	stats  map[string]map[string]statsEntry  // node → service → counters
	// admin holds operators' administrative states of real servers, from
	// the desired bucket; every agent keeps them so a new manager has them.
	admin map[managers.RealServerRef]string

	// The manager's side.
	decided   map[string]managers.ServiceState
	published map[string]bus.TableService
	seq       uint64
	lastFull  time.Time

	// The director's side.
	lastErr string

	started time.Time // when this agent began to hear health reports
}

type healthEntry struct {
	bus.HealthResult
	received time.Time
}

type tableEntry struct {
	epoch, seq uint64
	svc        bus.TableService
}

type statsEntry struct {
	bus.IPVSServiceCounts
	at time.Time
}

func newLBState() lbState {
	return lbState{
		health: map[string]map[string]healthEntry{}, table: map[string]tableEntry{},
		stats: map[string]map[string]statsEntry{}, published: map[string]bus.TableService{},
		admin: map[managers.RealServerRef]string{},
	}
}

// prober is what the agent needs of agent/check.
type prober interface {
	Set([]check.Target)
	Statuses() []check.Status
	Close()
}

// probeTargets are the probes this node runs: every real server's when it
// is a director, and those of the real servers it is the agent of.
func (c Config) probeTargets() []check.Target {
	seen := map[string]bool{}
	var out []check.Target
	for _, s := range c.Services {
		for _, rs := range s.RealServers {
			if !c.Director && rs.Node != c.Node {
				continue
			}
			ck := s.EffectiveCheck(rs)
			if ck.Kind == "none" {
				continue
			}
			t := ck.Target(rs.Address)
			if id := ck.ID(t); !seen[id] {
				seen[id] = true
				out = append(out, check.Target{Address: t, Check: ck})
			}
		}
	}
	return out
}

// startLB subscribes to the load-balancing subjects and starts the probes.
func (a *Agent) startLB() error {
	if len(a.cfg.Services) == 0 {
		return nil
	}
	for subj, h := range map[string]nats.MsgHandler{
		a.subjects.Healths():      a.onHealth,
		a.subjects.ServiceTable(): a.onTable,
		a.subjects.IPVSStatsAll(): a.onStats,
	} {
		if _, err := a.nc.Subscribe(subj, h); err != nil {
			return fmt.Errorf("subscribing to %s: %w", subj, err)
		}
	}
	a.mu.Lock()
	a.lb.started = time.Now()
	a.mu.Unlock()
	if ts := a.cfg.probeTargets(); len(ts) > 0 {
		a.checks = check.New(check.Options{Logger: a.cfg.Logger.With("component", "check"), OnChange: func(check.Status) { wake(a.healthWake) }})
		a.checks.Set(ts)
	}
	return nil
}

func (a *Agent) stopLB() {
	if a.checks != nil {
		a.checks.Close()
	}
	if a.ipvsc != nil {
		_ = a.ipvsc.Close()
	}
}

// healthLoop publishes this node's results: the changed ones at once, all
// of them every healthFullEvery.
func (a *Agent) healthLoop(ctx context.Context) {
	if a.checks == nil {
		return
	}
	t := time.NewTicker(healthFullEvery)
	defer t.Stop()
	sent := map[string]bus.HealthResult{}
	for {
		full := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			full = true
		case <-a.healthWake:
		}
		var out []bus.HealthResult
		for _, s := range a.checks.Statuses() {
			r := bus.HealthResult{ID: s.Check.ID(s.Address), Healthy: s.Healthy, Known: s.Known, Reason: s.Reason, Since: s.Since.UTC()}
			if p, ok := sent[r.ID]; full || !ok || p.Healthy != r.Healthy || p.Known != r.Known || p.Reason != r.Reason {
				out = append(out, r)
				sent[r.ID] = r
			}
		}
		for len(out) > 0 {
			n := min(len(out), chunk)
			rep := bus.HealthReport{V: bus.Version, Node: a.cfg.Node, Sent: time.Now().UTC(), Results: out[:n]}
			out = out[n:]
			if b, err := bus.Encode(rep); err == nil {
				_ = a.nc.Publish(a.subjects.Health(a.cfg.Node), b)
			}
		}
	}
}

func (a *Agent) onHealth(m *nats.Msg) {
	r, err := bus.DecodeHealthReport(m.Data)
	if a.drops.Count(err) {
		return
	}
	now := time.Now()
	a.mu.Lock()
	h := a.lb.health[r.Node]
	if h == nil {
		h = map[string]healthEntry{}
		a.lb.health[r.Node] = h
	}
	changed := false
	for _, x := range r.Results {
		if p, ok := h[x.ID]; !ok || p.Healthy != x.Healthy || p.Known != x.Known {
			changed = true
		}
		h[x.ID] = healthEntry{HealthResult: x, received: now}
	}
	leader := a.leader
	a.mu.Unlock()
	if changed && leader {
		wake(a.planWake)
	}
}

// freshProbesLocked gathers the results that still count, by probe ID.
func (a *Agent) freshProbesLocked(now time.Time) map[string][]managers.Probe {
	selfOf := map[netip.AddrPort]string{}
	for _, s := range a.cfg.Services {
		for _, rs := range s.RealServers {
			if rs.Node != "" {
				selfOf[s.EffectiveCheck(rs).Target(rs.Address)] = rs.Node
			}
		}
	}
	out := map[string][]managers.Probe{}
	for node, h := range a.lb.health {
		for id, e := range h {
			if now.Sub(e.received) > healthStaleAfter {
				delete(h, id)
				continue
			}
			p := managers.Probe{Node: node, Healthy: e.Healthy, Known: e.Known, Reason: e.Reason, Since: e.Since}
			if t, err := netip.ParseAddrPort(targetOf(id)); err == nil && selfOf[t] == node {
				p.Self = true
			}
			out[id] = append(out[id], p)
		}
	}
	return out
}

// targetOf is the address part of a probe ID (model.Check.ID).
func targetOf(id string) string {
	for i := range id {
		if id[i] == '/' {
			return id[:i]
		}
	}
	return id
}

// planLoop runs the manager's rounds: every heartbeat interval and at
// once when a probe result changes. It is apart from the election loop so
// that a decision never waits on JetStream (lease renewals, KV writes).
func (a *Agent) planLoop(ctx context.Context) {
	if len(a.cfg.Services) == 0 {
		return
	}
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.planWake:
		}
		a.mu.Lock()
		leader, epoch := a.leader, a.epoch
		a.mu.Unlock()
		if leader {
			a.planServices(epoch)
		}
	}
}

// planServices is the manager's round: decide, publish what changed, and
// the whole table now and then; announce each transition once.
func (a *Agent) planServices(epoch uint64) {
	if len(a.cfg.Services) == 0 {
		return
	}
	now := time.Now()
	a.mu.Lock()
	// A manager decides only once it can know: after a whole table from a
	// predecessor (whose decisions it keeps while probes are unknown) and
	// a round of health reports, or, with no predecessor, once the probes
	// have had time to rise or fall. Deciding earlier would take healthy
	// real servers out of the table.
	wait := healthFullEvery * 3 / 2
	if !a.lb.synced {
		wait = max(wait, a.cfg.settleTime())
	}
	if now.Sub(a.lb.started) < wait {
		a.mu.Unlock()
		return
	}
	if a.lb.decided == nil {
		// A new manager starts from what the previous one published, so it
		// neither repeats nor misses transitions.
		a.lb.decided = map[string]managers.ServiceState{}
		for name, e := range a.lb.table {
			a.lb.decided[name] = stateFromTable(e.svc, now)
		}
		a.lb.published = map[string]bus.TableService{}
	}
	probes := a.freshProbesLocked(now)
	admin := make(map[managers.RealServerRef]string, len(a.lb.admin))
	for k, v := range a.lb.admin {
		admin[k] = v
	}
	prev := a.lb.decided
	published := a.lb.published
	full := now.Sub(a.lb.lastFull) >= tableFullEvery
	if full {
		a.lb.lastFull = now
	}
	a.lb.seq++
	seq := a.lb.seq
	a.mu.Unlock()

	// Deciding and rendering run outside the lock: with thousands of
	// services they take long enough to delay heartbeats. Only this
	// goroutine writes decided and published.
	out, trans := managers.PlanServices(managers.ServicesInput{Specs: a.cfg.Services, Probes: probes, Prev: prev, Admin: admin, Now: now})
	next := make(map[string]bus.TableService, len(a.cfg.Services))
	var changed, whole []bus.TableService
	all := make([]string, 0, len(a.cfg.Services))
	for _, spec := range a.cfg.Services {
		ts := tableService(spec, out[spec.Name])
		all = append(all, spec.Name)
		if p, ok := published[spec.Name]; !ok || !sameTable(p, ts) {
			changed = append(changed, ts)
		}
		next[spec.Name] = ts
		if full {
			whole = append(whole, ts)
		}
	}
	var removed []string
	for name := range published {
		if _, ok := next[name]; !ok {
			removed = append(removed, name)
		}
	}
	a.mu.Lock()
	if a.lb.decided == nil {
		a.mu.Unlock()
		return // stepped down meanwhile
	}
	a.lb.decided, a.lb.published = out, next
	a.mu.Unlock()

	send := func(t bus.ServiceTable) {
		if b, err := bus.Encode(t); err == nil {
			_ = a.nc.Publish(a.subjects.ServiceTable(), b)
		}
	}
	base := bus.ServiceTable{V: bus.Version, Epoch: epoch, Seq: seq, Sent: now.UTC()}
	if len(changed) > 0 || len(removed) > 0 {
		for len(changed) > chunk {
			t := base
			t.Services, changed = changed[:chunk], changed[chunk:]
			send(t)
		}
		t := base
		t.Services, t.Removed = changed, removed
		send(t)
	}
	if full {
		for {
			t := base
			n := min(len(whole), chunk)
			t.Services, whole = whole[:n], whole[n:]
			if len(whole) == 0 {
				t.All, t.Final = all, true
				send(t)
				break
			}
			send(t)
		}
	}
	for _, tr := range trans {
		a.log.Info("service state changed", "event", tr.Type, "service", tr.Service, "real_server", tr.RealServer, "reason", tr.Reason, "epoch", epoch)
		subject := tr.Service
		if tr.RealServer != "" {
			subject += "/" + tr.RealServer
		}
		a.emit(tr.Type, subject, epoch, bus.EventData{Service: tr.Service, RealServer: tr.RealServer, Reason: tr.Reason, Epoch: epoch})
	}
}

// tableService renders one decision for the directors.
func tableService(spec model.VirtualService, st managers.ServiceState) bus.TableService {
	ts := bus.TableService{
		Name: spec.Name, Protocol: spec.Protocol, FWMark: spec.FWMark, Family: spec.Family,
		Scheduler: spec.Scheduler, SchedulerFlags: spec.SchedulerFlags,
		Quorum: st.Quorum, HealthyWeight: st.HealthyWeight, SorryActive: st.SorryActive, Reason: st.Reason, Since: st.Since.UTC(),
	}
	if spec.FWMark == 0 {
		ts.Address = spec.Address.String()
		ts.Family = "inet"
		if spec.IsIPv6() {
			ts.Family = "inet6"
		}
	}
	if p := spec.Persistence; p != nil {
		ts.PersistTimeout, ts.PersistNetmask = uint32(p.Timeout/time.Second), p.Netmask
	}
	for _, r := range st.Real {
		d := bus.TableDest{Address: r.Address.String(), Forward: r.Forward, Weight: max(r.Applied, 0), Out: r.Applied < 0,
			Configured: r.Weight, Healthy: r.Healthy, Known: r.Known, Sorry: r.Sorry, Admin: r.Admin, Reason: r.Reason, Since: r.Since.UTC()}
		ts.Dests = append(ts.Dests, d)
	}
	return ts
}

// stateFromTable recovers a decision from its published form, as if its
// evidence were fresh at now.
func stateFromTable(ts bus.TableService, now time.Time) managers.ServiceState {
	st := managers.ServiceState{Name: ts.Name, Quorum: ts.Quorum, HealthyWeight: ts.HealthyWeight, SorryActive: ts.SorryActive, Reason: ts.Reason, Since: ts.Since}
	for _, d := range ts.Dests {
		ap, _ := netip.ParseAddrPort(d.Address)
		applied := d.Weight
		if d.Out {
			applied = -1
		}
		st.Real = append(st.Real, managers.RealState{Address: ap, Forward: d.Forward, Weight: d.Configured, Applied: applied,
			Healthy: d.Healthy, Known: d.Known, Sorry: d.Sorry, Admin: d.Admin, Reason: d.Reason, Since: d.Since, Evidence: now})
	}
	return st
}

// sameTable compares two decisions, explanations and times included:
// they are part of what views show.
func sameTable(a, b bus.TableService) bool {
	if a.Name != b.Name || a.Protocol != b.Protocol || a.Address != b.Address || a.FWMark != b.FWMark ||
		a.Family != b.Family || a.Scheduler != b.Scheduler || !slices.Equal(a.SchedulerFlags, b.SchedulerFlags) ||
		a.PersistTimeout != b.PersistTimeout || a.PersistNetmask != b.PersistNetmask || a.Quorum != b.Quorum ||
		a.HealthyWeight != b.HealthyWeight || a.SorryActive != b.SorryActive || a.Reason != b.Reason ||
		!a.Since.Equal(b.Since) || len(a.Dests) != len(b.Dests) {
		return false
	}
	for i, x := range a.Dests {
		y := b.Dests[i]
		if x.Address != y.Address || x.Forward != y.Forward || x.Weight != y.Weight || x.Out != y.Out ||
			x.Configured != y.Configured || x.Healthy != y.Healthy || x.Known != y.Known || x.Sorry != y.Sorry ||
			x.Admin != y.Admin || x.Reason != y.Reason || !x.Since.Equal(y.Since) {
			return false
		}
	}
	return true
}

// newer reports whether (epoch, seq) is after (e2, s2).
func newer(epoch, seq, e2, s2 uint64) bool { return epoch > e2 || (epoch == e2 && seq > s2) }

func (a *Agent) onTable(m *nats.Msg) {
	t, err := bus.DecodeServiceTable(m.Data)
	if a.drops.Count(err) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.Epoch < a.lb.epoch {
		a.drops.Count(fmt.Errorf("%w: table of epoch %d, newest %d", bus.ErrStaleEpoch, t.Epoch, a.lb.epoch))
		return
	}
	if t.Epoch > a.lb.epoch {
		a.lb.epoch = t.Epoch
	}
	changed := false
	for _, s := range t.Services {
		e, ok := a.lb.table[s.Name]
		if ok && newer(e.epoch, e.seq, t.Epoch, t.Seq) {
			continue
		}
		if !ok || !sameTable(e.svc, s) {
			changed = true
		}
		a.lb.table[s.Name] = tableEntry{epoch: t.Epoch, seq: t.Seq, svc: s}
	}
	for _, n := range t.Removed {
		if _, ok := a.lb.table[n]; ok {
			delete(a.lb.table, n)
			changed = true
		}
	}
	if t.Final {
		names := make(map[string]bool, len(t.All))
		for _, n := range t.All {
			names[n] = true
		}
		complete := true
		for n, e := range a.lb.table {
			if !names[n] && !newer(e.epoch, e.seq, t.Epoch, t.Seq) {
				delete(a.lb.table, n)
				changed = true
			}
		}
		for n := range names {
			if _, ok := a.lb.table[n]; !ok {
				complete = false // a chunk of this round went missing
			}
		}
		// Only a whole table lets a director remove what it programmed.
		if complete && !a.lb.synced {
			a.lb.synced, changed = true, true
		}
	}
	if changed {
		wake(a.ipvsWake)
	}
}

// ipvsLoop programs the manager's table into this director's kernel: at
// once when it changes, and every ipvsResync to repair changes made by
// hand (level-triggered).
func (a *Agent) ipvsLoop(ctx context.Context) {
	if a.ipvsc == nil {
		return
	}
	// A full re-read costs one dump per service: with a big table it is
	// spaced out so that it never takes more than a tenth of the time.
	t := time.NewTimer(ipvsResync)
	defer t.Stop()
	st := time.NewTimer(statsEvery)
	defer st.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			start := time.Now()
			a.reconcileIPVS(true)
			t.Reset(max(ipvsResync, 10*time.Since(start)))
		case <-a.ipvsWake:
			a.reconcileIPVS(false)
		case <-st.C:
			start := time.Now()
			a.publishStats()
			st.Reset(max(statsEvery, 10*time.Since(start)))
		}
	}
}

// reconcileIPVS programs the table; full re-reads the kernel's first
// (otherwise the reconciler diffs against what it read and did last).
func (a *Agent) reconcileIPVS(full bool) {
	a.mu.Lock()
	desired := make(ipvs.Table, 0, len(a.lb.table))
	names := map[ipvs.ServiceKey]string{}
	for _, e := range a.lb.table {
		vs, err := toIPVS(e.svc)
		if err != nil {
			a.log.Warn("cannot program service", "service", e.svc.Name, "err", err)
			continue
		}
		desired = append(desired, vs)
		names[vs.ServiceKey] = e.svc.Name
	}
	synced := a.lb.synced
	a.mu.Unlock()
	// The same order every time, so the reconciler's diff of a changed
	// service takes its fast path.
	sort.Slice(desired, func(i, j int) bool { return desired[i].ServiceKey.String() < desired[j].ServiceKey.String() })
	if a.recon.owned == nil {
		// First round since the start: what this director programmed
		// before it (re)started.
		a.recon.owned = a.loadOwned()
	}
	owned := a.recon.owned
	if a.recon.r == nil {
		// Until a whole table has arrived, nothing is removed: an agent
		// restarted without a manager keeps the kernel's table as it is.
		a.recon.r = ipvs.NewReconciler(a.ipvsc, func(k ipvs.ServiceKey) bool {
			return a.recon.synced && a.recon.owned[k.String()]
		})
	}
	if full || synced != a.recon.synced {
		a.recon.r.Invalidate() // the reconciler asks owned afresh only after a read
	}
	a.recon.synced = synced
	applied, err := a.recon.r.Reconcile(desired)
	for _, op := range applied {
		a.log.Info("IPVS changed", "op", op.String(), "service", names[op.Service.ServiceKey])
	}
	// What this director owns from now on: what it wants programmed, and
	// what it owned and has not removed yet (not synced, or a removal
	// that failed and must be tried again).
	next := make(map[string]bool, len(desired))
	for _, vs := range desired {
		next[vs.ServiceKey.String()] = true
	}
	removedKeys := map[string]bool{}
	for _, op := range applied {
		if op.Kind == ipvs.OpRemoveService {
			removedKeys[op.Service.ServiceKey.String()] = true
		}
	}
	for k := range owned {
		if !removedKeys[k] && (!synced || err != nil) {
			next[k] = true
		}
	}
	a.mu.Lock()
	if err != nil {
		if msg := err.Error(); msg != a.lb.lastErr {
			a.log.Error("programming IPVS", "err", err)
			a.lb.lastErr = msg
		}
	} else {
		a.lb.lastErr = ""
	}
	a.mu.Unlock()
	if !sameSet(owned, next) {
		a.recon.owned = next
		a.saveOwned(next)
	}
}

func sameSet(a, b map[string]bool) bool {
	if a == nil || len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// ownedFile keeps the keys of the services this director programmed, so
// that a service deleted from the configuration while the agent was down is
// still removed, and services someone else made are never touched.
func (a *Agent) ownedFile() string { return filepath.Join(a.cfg.DataDir, "ipvs-owned.json") }

func (a *Agent) loadOwned() map[string]bool {
	out := map[string]bool{}
	if a.cfg.DataDir == "" {
		return out
	}
	b, err := os.ReadFile(a.ownedFile())
	if err != nil {
		return out
	}
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil {
		a.log.Warn("ignoring unreadable list of programmed IPVS services", "file", a.ownedFile(), "err", err)
		return out
	}
	for _, k := range keys {
		out[k] = true
	}
	return out
}

func (a *Agent) saveOwned(keys map[string]bool) {
	if a.cfg.DataDir == "" {
		return
	}
	list := make([]string, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	sort.Strings(list)
	b, _ := json.Marshal(list)
	tmp := a.ownedFile() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		_ = os.Rename(tmp, a.ownedFile())
	}
}

// toIPVS turns a table entry into the driver's terms.
func toIPVS(s bus.TableService) (ipvs.VirtualService, error) {
	var vs ipvs.VirtualService
	vs.Family = familyOf(s.Family)
	if s.FWMark != 0 {
		vs.FWMark = s.FWMark
	} else {
		ap, err := netip.ParseAddrPort(s.Address)
		if err != nil {
			return vs, err
		}
		vs.Address, vs.Port = ap.Addr(), ap.Port()
		switch s.Protocol {
		case "tcp":
			vs.Protocol = ipvs.ProtocolTCP
		case "udp":
			vs.Protocol = ipvs.ProtocolUDP
		case "sctp":
			vs.Protocol = ipvs.ProtocolSCTP
		}
	}
	vs.Scheduler = s.Scheduler
	for _, f := range s.SchedulerFlags {
		switch f {
		case "sh-fallback", "mh-fallback":
			vs.Flags |= ipvs.FlagSched1
		case "sh-port", "mh-port":
			vs.Flags |= ipvs.FlagSched2
		default:
			return vs, fmt.Errorf("unknown scheduler flag %q", f)
		}
	}
	vs.Netmask = 32
	if vs.Family == familyOf("inet6") {
		vs.Netmask = 128
	}
	if s.PersistTimeout > 0 {
		vs.Flags |= ipvs.FlagPersistent
		vs.Timeout = s.PersistTimeout
		if s.PersistNetmask > 0 {
			vs.Netmask = s.PersistNetmask
		}
	}
	for _, d := range s.Dests {
		if d.Out {
			continue
		}
		ap, err := netip.ParseAddrPort(d.Address)
		if err != nil {
			return vs, err
		}
		dst := ipvs.Destination{DestKey: ipvs.DestKey{Address: ap.Addr(), Port: ap.Port()}, Weight: d.Weight}
		switch d.Forward {
		case model.ForwardNAT:
			dst.Forward = ipvs.ForwardNAT
		case model.ForwardDR:
			dst.Forward = ipvs.ForwardDR
		case model.ForwardTunnel:
			dst.Forward = ipvs.ForwardTunnel
		}
		vs.Destinations = append(vs.Destinations, dst)
	}
	return vs, nil
}

// publishStats sends this director's counters for the cluster view.
func (a *Agent) publishStats() {
	_, infos, dests, err := ipvs.Read(a.ipvsc)
	if err != nil {
		return
	}
	a.mu.Lock()
	names := map[ipvs.ServiceKey]string{}
	for _, e := range a.lb.table {
		if vs, err := toIPVS(e.svc); err == nil {
			names[vs.ServiceKey] = e.svc.Name
		}
	}
	a.mu.Unlock()
	var out []bus.IPVSServiceCounts
	for _, si := range infos {
		name, ok := names[si.ServiceKey]
		if !ok {
			continue
		}
		c := bus.IPVSServiceCounts{Name: name, Stats: counters(si.Stats)}
		for _, d := range dests[si.ServiceKey] {
			c.Dests = append(c.Dests, model.DestCounter{
				Address: netip.AddrPortFrom(d.Address, d.Port).String(), Weight: d.Weight,
				Active: d.ActiveConns, Inactive: d.InactiveConns, Stats: counters(d.Stats),
			})
		}
		out = append(out, c)
	}
	for len(out) > 0 {
		n := min(len(out), chunk)
		m := bus.IPVSStats{V: bus.Version, Node: a.cfg.Node, Sent: time.Now().UTC(), Services: out[:n]}
		out = out[n:]
		if b, err := bus.Encode(m); err == nil {
			_ = a.nc.Publish(a.subjects.IPVSStats(a.cfg.Node), b)
		}
	}
}

func counters(s ipvs.Stats) model.Counters {
	return model.Counters{Connections: s.Connections, PacketsIn: s.PacketsIn, PacketsOut: s.PacketsOut,
		BytesIn: s.BytesIn, BytesOut: s.BytesOut, CPS: s.CPS, PPSIn: s.PPSIn, PPSOut: s.PPSOut, BPSIn: s.BPSIn, BPSOut: s.BPSOut}
}

func (a *Agent) onStats(m *nats.Msg) {
	s, err := bus.DecodeIPVSStats(m.Data)
	if a.drops.Count(err) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	byName := a.lb.stats[s.Node]
	if byName == nil {
		byName = map[string]statsEntry{}
		a.lb.stats[s.Node] = byName
	}
	for _, x := range s.Services {
		byName[x.Name] = statsEntry{IPVSServiceCounts: x, at: time.Now()} // this node's clock, not the sender's
	}
}

// servicesViewLocked renders the configured services for the cluster view:
// the newest decision, the probes this node has heard, the directors'
// counters.
func (a *Agent) servicesViewLocked(now time.Time) []model.ServiceView {
	if len(a.cfg.Services) == 0 {
		return nil
	}
	probes := a.freshProbesLocked(now)
	var out []model.ServiceView
	for _, spec := range a.cfg.Services {
		v := model.ServiceView{Name: spec.Name, Key: spec.Key(), Scheduler: spec.Scheduler, Flags: spec.SchedulerFlags}
		if p := spec.Persistence; p != nil {
			v.Persistence = fmt.Sprintf("%s/%d", p.Timeout, p.Netmask)
		}
		e, ok := a.lb.table[spec.Name]
		if a.leader {
			if p, pok := a.lb.published[spec.Name]; pok {
				e, ok = tableEntry{epoch: a.epoch, svc: p}, true
			}
		}
		needed := max(spec.Quorum, 1)
		v.Quorum = model.QuorumView{Needed: needed, RegainAt: needed + spec.Hysteresis}
		if !ok {
			v.Reason = "no decision received from a manager yet"
		} else {
			v.Quorum.Have, v.Quorum.HealthyWeight = e.svc.Quorum, e.svc.HealthyWeight
			v.SorryActive, v.Reason, v.Since, v.Epoch = e.svc.SorryActive, e.svc.Reason, e.svc.Since, e.epoch
		}
		for _, rs := range spec.RealServers {
			r := model.RealServerView{Address: rs.Address.String(), Forward: rs.Forward, Weight: rs.Weight, Node: rs.Node, Applied: -1, Reason: "no decision yet"}
			a.fillDest(&r, e.svc.Dests)
			c := spec.EffectiveCheck(rs)
			for _, p := range probes[c.ID(c.Target(rs.Address))] {
				r.Probes = append(r.Probes, model.ProbeView{Node: p.Node, Self: p.Self, Healthy: p.Healthy, Known: p.Known, Reason: p.Reason, Since: p.Since})
			}
			sort.Slice(r.Probes, func(i, j int) bool { return r.Probes[i].Node < r.Probes[j].Node })
			v.RealServers = append(v.RealServers, r)
		}
		if spec.Sorry != nil {
			r := model.RealServerView{Address: spec.Sorry.Address.String(), Forward: spec.Sorry.Forward, Weight: max(spec.Sorry.Weight, 1), Node: spec.Sorry.Node, Applied: -1, Sorry: true, Reason: "sorry server"}
			a.fillDest(&r, e.svc.Dests)
			v.RealServers = append(v.RealServers, r)
		}
		var nodes []string
		for n := range a.lb.stats {
			nodes = append(nodes, n)
		}
		sort.Strings(nodes)
		for _, n := range nodes {
			if st, ok := a.lb.stats[n][spec.Name]; ok && now.Sub(st.at) < 3*statsEvery {
				v.Directors = append(v.Directors, model.DirectorCounter{Node: n, At: st.at, Stats: st.Stats, Dests: st.Dests})
			}
		}
		out = append(out, v)
	}
	return out
}

func (a *Agent) fillDest(r *model.RealServerView, dests []bus.TableDest) {
	for _, d := range dests {
		if d.Address != r.Address || d.Sorry != r.Sorry {
			continue
		}
		r.Healthy, r.Known, r.Admin, r.Reason, r.Since = d.Healthy, d.Known, d.Admin, d.Reason, d.Since
		if !d.Out {
			r.Applied = d.Weight
		}
	}
}

// familyOf maps a family name to Linux's AF_INET (2) or AF_INET6 (10),
// which IPVS takes whatever the platform the agent was built on.
func familyOf(f string) uint16 {
	if f == "inet6" {
		return 10
	}
	return 2
}

// reconState is ipvsLoop's: the reconciler and what it may remove.
type reconState struct {
	r      *ipvs.Reconciler
	synced bool
	owned  map[string]bool
}

// settleTime is how long a new prober needs before every real server's
// health is known: the slowest check's rise or fall, plus a report round.
func (c Config) settleTime() time.Duration {
	var d time.Duration
	for _, s := range c.Services {
		for _, rs := range s.RealServers {
			ck := check.WithDefaults(s.EffectiveCheck(rs))
			if ck.Kind == check.KindNone {
				continue
			}
			d = max(d, ck.Interval*time.Duration(max(ck.Rise, ck.Fall))+ck.Timeout)
		}
	}
	return d + healthFullEvery
}

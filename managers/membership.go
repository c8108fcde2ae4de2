package managers

import (
	"sort"
	"time"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

// MembershipConfig configures a Membership.
type MembershipConfig struct {
	// Self is the observing node; it is always alive in its own view.
	Self string
	// Voters is how many nodes the cluster is meant to have; a majority of
	// them must be present for quorum.
	Voters int
	// SuspectAfter and DeadAfter are the heartbeat silences after which a
	// node becomes suspect and dead.
	SuspectAfter, DeadAfter time.Duration
}

// Membership is one node's view of who is alive. It is not safe for
// concurrent use; the agent serialises calls.
type Membership struct {
	cfg      MembershipConfig
	members  map[string]*member
	maxEpoch uint64
}

type member struct {
	name          string
	state         model.NodeState
	since         time.Time
	lastHeartbeat time.Time
	boot          string
	seq           uint64
	quorum        bool
	manager       bool
	epoch         uint64
	version       string
	reason        string
	aliveSince    time.Time
	held, yielded map[string]bool
	udp           map[string]int64 // peers it hears over UDP → age (ms) when it said so
	udpAt         time.Time        // when that report arrived
	candidate     bool
	graceUntil    time.Time
}

// Transition is a change of a node's state, with why it happened.
type Transition struct {
	Node     string
	From, To model.NodeState
	Boot     string
	Reason   string
	At       time.Time
}

// NewMembership returns a view holding only the observer itself.
func NewMembership(cfg MembershipConfig, now time.Time) *Membership {
	m := &Membership{cfg: cfg, members: map[string]*member{}}
	m.members[cfg.Self] = &member{name: cfg.Self, state: model.NodeAlive, since: now, lastHeartbeat: now, reason: "this node"}
	return m
}

// Heartbeat records h, received at now, and returns the transitions it
// caused. A heartbeat older than the last one seen from the same boot (a
// reordered delivery) changes nothing.
func (m *Membership) Heartbeat(h bus.Heartbeat, now time.Time) []Transition {
	if h.Manager && h.Epoch > m.maxEpoch {
		m.maxEpoch = h.Epoch
	}
	mb, ok := m.members[h.Node]
	if !ok {
		mb = &member{name: h.Node, state: model.NodeUnknown}
		m.members[h.Node] = mb
	}
	if mb.boot == h.Boot && h.Seq <= mb.seq && mb.state != model.NodeUnknown {
		return nil // duplicate or reordered
	}
	if mb.state == model.NodeLeft && mb.boot == h.Boot {
		return nil // a heartbeat still in flight when the node said goodbye
	}
	restarted := mb.boot != "" && mb.boot != h.Boot
	mb.lastHeartbeat, mb.seq, mb.quorum, mb.manager, mb.epoch, mb.version =
		now, h.Seq, h.Quorum, h.Manager, h.Epoch, h.Version
	mb.held, mb.yielded = toSet(h.Held), toSet(h.Yielded)
	mb.udp, mb.udpAt, mb.candidate = h.UDP, now, h.Candidate
	prevBoot := mb.boot
	mb.boot = h.Boot
	if h.Node == m.cfg.Self {
		return nil
	}
	switch {
	case mb.state == model.NodeAlive && !restarted:
		return nil
	case mb.state == model.NodeAlive && restarted:
		mb.reason = "agent restarted (was boot " + prevBoot + ")"
		mb.since = now
		return []Transition{{Node: mb.name, From: model.NodeAlive, To: model.NodeAlive, Boot: h.Boot, Reason: mb.reason, At: now}}
	}
	reason := "heartbeat received"
	switch mb.state {
	case model.NodeUnknown:
		reason = "first heartbeat"
	case model.NodeDead, model.NodeLeft:
		reason = "heartbeats resumed"
	}
	return []Transition{m.set(mb, model.NodeAlive, reason, now)}
}

// Leave records a graceful leave.
func (m *Membership) Leave(l bus.Leave, now time.Time) []Transition {
	mb, ok := m.members[l.Node]
	if !ok || l.Node == m.cfg.Self {
		return nil
	}
	if mb.boot != "" && mb.boot != l.Boot {
		return nil // a goodbye from an earlier incarnation
	}
	if mb.state == model.NodeLeft {
		return nil
	}
	reason := "left the cluster"
	if l.Reason != "" {
		reason += ": " + l.Reason
	}
	mb.manager = false
	if l.GraceMS > 0 {
		mb.graceUntil = now.Add(time.Duration(l.GraceMS) * time.Millisecond)
		mb.held = toSet(l.Held)
	}
	return []Transition{m.set(mb, model.NodeLeft, reason, now)}
}

// Tick ages every node to now.
func (m *Membership) Tick(now time.Time) []Transition {
	var out []Transition
	for _, mb := range m.members {
		if mb.name == m.cfg.Self {
			mb.lastHeartbeat = now
			continue
		}
		silent := now.Sub(mb.lastHeartbeat)
		switch {
		case mb.state == model.NodeAlive && silent >= m.cfg.DeadAfter:
			out = append(out, m.set(mb, model.NodeDead, "no heartbeat for "+silent.Round(time.Millisecond).String(), now))
		case mb.state == model.NodeAlive && silent >= m.cfg.SuspectAfter:
			out = append(out, m.set(mb, model.NodeSuspect, "no heartbeat for "+silent.Round(time.Millisecond).String(), now))
		case mb.state == model.NodeSuspect && silent >= m.cfg.DeadAfter:
			out = append(out, m.set(mb, model.NodeDead, "no heartbeat for "+silent.Round(time.Millisecond).String(), now))
		}
	}
	sortTransitions(out)
	return out
}

func (m *Membership) set(mb *member, to model.NodeState, reason string, now time.Time) Transition {
	t := Transition{Node: mb.name, From: mb.state, To: to, Boot: mb.boot, Reason: reason, At: now}
	mb.state, mb.since, mb.reason = to, now, reason
	if to == model.NodeAlive && t.From != model.NodeSuspect {
		mb.aliveSince = now
	}
	if !to.Present() {
		mb.manager = false
	}
	return t
}

// Quorum says whether a majority of the voters is present.
func (m *Membership) Quorum() model.Quorum {
	present := 0
	for _, mb := range m.members {
		if mb.state.Present() {
			present++
		}
	}
	voters := max(m.cfg.Voters, 1)
	present = min(present, voters)
	need := voters/2 + 1
	return model.Quorum{Have: present >= need, Present: present, Voters: voters, Needed: need}
}

// Manager returns the present node that claims the manager lease with the
// newest epoch. A claim older than an epoch already seen is stale: that
// node has been replaced, whatever it still says.
func (m *Membership) Manager() (string, uint64) {
	var (
		name  string
		epoch uint64
	)
	for _, mb := range m.members {
		if mb.manager && mb.state.Present() && mb.epoch > epoch {
			name, epoch = mb.name, mb.epoch
		}
	}
	if epoch < m.maxEpoch {
		return "", 0
	}
	return name, epoch
}

// SetSelf records the observer's own manager claim and quorum, which it
// knows first-hand.
func (m *Membership) SetSelf(manager bool, epoch uint64, quorum bool, boot, version string) {
	mb := m.members[m.cfg.Self]
	mb.manager, mb.epoch, mb.quorum, mb.boot, mb.version = manager, epoch, quorum, boot, version
	if manager && epoch > m.maxEpoch {
		m.maxEpoch = epoch
	}
}

// MaxEpoch is the newest epoch seen; decisions older than it are stale.
func (m *Membership) MaxEpoch() uint64 { return m.maxEpoch }

// State returns a node's state, NodeUnknown if never seen.
func (m *Membership) State(node string) model.NodeState {
	if mb, ok := m.members[node]; ok {
		return mb.state
	}
	return model.NodeUnknown
}

// Nodes renders the members as of now, sorted by name.
func (m *Membership) Nodes(now time.Time) []model.Node {
	out := make([]model.Node, 0, len(m.members))
	for _, mb := range m.members {
		n := model.Node{
			Name: mb.name, State: mb.state, Since: mb.since, LastHeartbeat: mb.lastHeartbeat,
			HeartbeatAgeMS: -1, Manager: mb.manager && mb.state.Present(), Quorum: mb.quorum,
			Boot: mb.boot, Version: mb.version, Reason: mb.reason,
		}
		for g := range mb.held {
			n.Held = append(n.Held, g)
		}
		sort.Strings(n.Held)
		if !mb.lastHeartbeat.IsZero() {
			n.HeartbeatAgeMS = now.Sub(mb.lastHeartbeat).Milliseconds()
		}
		out = append(out, n)
	}
	model.SortNodes(out)
	return out
}

// SetSelfVIPs records the observer's own VIP state, which it knows
// first-hand.
func (m *Membership) SetSelfVIPs(held, yielded []string, udp map[string]int64, candidate bool, now time.Time) {
	mb := m.members[m.cfg.Self]
	mb.held, mb.yielded, mb.udp, mb.udpAt, mb.candidate = toSet(held), toSet(yielded), udp, now, candidate
	if mb.aliveSince.IsZero() {
		mb.aliveSince = mb.since
	}
}

// UDPHeard reports whether a present node said, at most window ago, that it
// heard node's UDP heartbeats at most window before that.
func (m *Membership) UDPHeard(node string, window time.Duration, now time.Time) bool {
	for _, mb := range m.members {
		if mb.name == node || !mb.state.Present() || now.Sub(mb.udpAt) > window {
			continue
		}
		if age, ok := mb.udp[node]; ok && age >= 0 && time.Duration(age)*time.Millisecond <= window {
			return true
		}
	}
	return false
}

// Infos returns what VIP placement needs about every member; drained names
// the drained nodes.
func (m *Membership) Infos(drained map[string]bool, udpWindow time.Duration, now time.Time) map[string]NodeInfo {
	out := make(map[string]NodeInfo, len(m.members))
	for _, mb := range m.members {
		out[mb.name] = NodeInfo{
			State: mb.state, AliveSince: mb.aliveSince, Held: mb.held, Yielded: mb.yielded,
			UDPHeard: m.UDPHeard(mb.name, udpWindow, now), GraceUntil: mb.graceUntil, Drained: drained[mb.name],
		}
	}
	return out
}

// HeardWithin counts the nodes, the observer included, whose last heartbeat
// is at most d old.
func (m *Membership) HeardWithin(d time.Duration, now time.Time) int {
	n := 0
	for _, mb := range m.members {
		if mb.name == m.cfg.Self || (mb.state.Present() && now.Sub(mb.lastHeartbeat) <= d) {
			n++
		}
	}
	return n
}

// MajorityHeardAt returns when this node last heard from `needed` nodes,
// itself included: the needed-th most recent heartbeat among the present
// members. Zero if fewer are present.
func (m *Membership) MajorityHeardAt(needed int, now time.Time) time.Time {
	var ts []time.Time
	for _, mb := range m.members {
		switch {
		case mb.name == m.cfg.Self:
			ts = append(ts, now)
		case mb.state.Present():
			ts = append(ts, mb.lastHeartbeat)
		}
	}
	if needed < 1 || len(ts) < needed {
		return time.Time{}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].After(ts[j]) })
	return ts[needed-1]
}

// Holds reports whether node says it holds group.
func (m *Membership) Holds(node, group string) bool {
	mb, ok := m.members[node]
	return ok && mb.held[group]
}

// Yielded reports whether node says it yielded group in a handover.
func (m *Membership) Yielded(node, group string) bool {
	mb, ok := m.members[node]
	return ok && mb.yielded[group]
}

// Holders returns the nodes that report holding group, sorted.
func (m *Membership) Holders(group string) []string {
	var out []string
	for _, mb := range m.members {
		if mb.held[group] && (mb.state.Present() || mb.name == m.cfg.Self) {
			out = append(out, mb.name)
		}
	}
	sort.Strings(out)
	return out
}

// NonCandidatePresent reports whether a present node other than the
// observer can own no VIP group: the manager should be such a node.
func (m *Membership) NonCandidatePresent() bool {
	for _, mb := range m.members {
		if mb.name != m.cfg.Self && mb.state == model.NodeAlive && !mb.candidate && mb.quorum {
			return true
		}
	}
	return false
}

func toSet(xs []string) map[string]bool {
	if len(xs) == 0 {
		return nil
	}
	s := make(map[string]bool, len(xs))
	for _, x := range xs {
		s[x] = true
	}
	return s
}

func sortTransitions(ts []Transition) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Node < ts[j-1].Node; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

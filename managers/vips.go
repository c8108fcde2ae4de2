package managers

import (
	"fmt"
	"sort"
	"time"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

// NodeInfo is what VIP placement needs to know about a node.
type NodeInfo struct {
	State model.NodeState
	// AliveSince is when the node last became alive, for preempt_delay.
	AliveSince time.Time
	// Held and Yielded are the groups the node reports (see bus.Heartbeat).
	Held, Yielded map[string]bool
	// UDPHeard: some present node hears its direct UDP heartbeats. A node
	// dead on the bus but heard over UDP is bus-isolated, not dead.
	UDPHeard bool
	// GraceUntil: the node stopped for a restart and keeps its VIPs until
	// then.
	GraceUntil time.Time
	Drained    bool
}

// VIPInput is everything placement decides from.
type VIPInput struct {
	Groups  []model.VIPGroup
	Nodes   map[string]NodeInfo
	Current map[string]bus.Assignment // the last decisions, by group
	Moves   map[string]bus.Desired    // operator moves, by group
	Now     time.Time
}

// Move is a change of a group's owner, for the vip.moved event.
type Move struct {
	Group, From, To, Reason string
	Graceful                bool
}

// legit reports whether n may still be holding a group: it is alive or
// suspect, bus-isolated but heard over UDP, or restarting within its grace.
// Only when this is false has the node certainly let go (it self-fences
// before the manager calls it dead), so only then may a group fail over.
func (in VIPInput) legit(n string) bool {
	ni, ok := in.Nodes[n]
	if !ok {
		return false
	}
	switch ni.State {
	case model.NodeAlive, model.NodeSuspect:
		return true
	case model.NodeDead:
		return ni.UDPHeard
	case model.NodeLeft:
		// Restarting: within its grace, or already back and heard over UDP.
		return in.Now.Before(ni.GraceUntil) || ni.UDPHeard
	}
	return false
}

// eligible reports whether n may be given g now.
func (in VIPInput) eligible(g model.VIPGroup, n string) bool {
	ni, ok := in.Nodes[n]
	return ok && g.Priority(n) > 0 && ni.State == model.NodeAlive && !ni.Drained
}

func (in VIPInput) best(g model.VIPGroup, except string) string {
	for _, c := range g.Ranked() {
		if c.Node != except && in.eligible(g, c.Node) {
			return c.Node
		}
	}
	return ""
}

func (in VIPInput) whyGone(n string) string {
	ni, ok := in.Nodes[n]
	switch {
	case !ok:
		return "owner " + n + " is unknown"
	case ni.State == model.NodeLeft:
		return "owner " + n + " left"
	case ni.State == model.NodeDead:
		return "owner " + n + " is dead (silent on the bus and over UDP)"
	}
	return "owner " + n + " is " + ni.State.String()
}

// PlaceVIPs decides every group's owner. It is deterministic and returns the
// full placement, in group order, and the owner changes it made.
func PlaceVIPs(in VIPInput) ([]bus.Assignment, []Move) {
	groups := append([]model.VIPGroup(nil), in.Groups...)
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	var (
		out   []bus.Assignment
		moves []Move
	)
	for _, g := range groups {
		cur := in.Current[g.Name]
		cur.Group = g.Name
		next := in.placeOne(g, cur)
		if next.Owner != cur.Owner {
			moves = append(moves, Move{Group: g.Name, From: cur.Owner, To: next.Owner, Reason: next.Reason, Graceful: next.From != ""})
		}
		out = append(out, next)
	}
	return out, moves
}

func (in VIPInput) placeOne(g model.VIPGroup, cur bus.Assignment) bus.Assignment {
	assign := func(owner, from, reason string, pinned bool) bus.Assignment {
		return bus.Assignment{Group: g.Name, Owner: owner, From: from, Reason: reason, Since: in.Now.UTC(), Pinned: pinned}
	}
	if cur.Owner == "" {
		// No decision yet (first manager, or a new group): adopt a node that
		// already holds it, so a manager change or restart moves nothing.
		for _, c := range g.Ranked() {
			if in.legit(c.Node) && in.Nodes[c.Node].Held[g.Name] {
				return assign(c.Node, "", "already held by "+c.Node, false)
			}
		}
		if b := in.best(g, ""); b != "" {
			return assign(b, "", fmt.Sprintf("highest-priority alive candidate (priority %d)", g.Priority(b)), false)
		}
		return assign("", "", "no candidate is alive", false)
	}
	if !in.legit(cur.Owner) {
		if b := in.best(g, cur.Owner); b != "" {
			return assign(b, "", in.whyGone(cur.Owner)+"; "+b+" has the highest priority alive", false)
		}
		return assign("", "", in.whyGone(cur.Owner)+"; no other candidate is alive", false)
	}
	if cur.From != "" {
		// A graceful handover completes when the new owner holds the group
		// or the previous one is gone.
		if in.Nodes[cur.Owner].Held[g.Name] || !in.legit(cur.From) {
			cur.From = ""
		}
		return cur
	}
	owner := cur.Owner
	if mv, ok := in.Moves[g.Name]; ok && mv.Node != owner && mv.At.After(cur.Since) && in.eligible(g, mv.Node) {
		return assign(mv.Node, owner, "moved to "+mv.Node+" by operator", true)
	}
	if in.Nodes[owner].Drained {
		if b := in.best(g, owner); b != "" {
			return assign(b, owner, "owner "+owner+" drained", false)
		}
		cur.Reason = "owner " + owner + " drained, but no other candidate is alive"
		return cur
	}
	if g.Preempt && !cur.Pinned {
		if b := in.best(g, ""); b != "" && b != owner && g.Priority(b) > g.Priority(owner) {
			if in.Now.Sub(in.Nodes[b].AliveSince) >= g.PreemptDelay {
				return assign(b, owner, fmt.Sprintf("preempted by higher-priority %s (%d > %d)", b, g.Priority(b), g.Priority(owner)), false)
			}
		}
	}
	return cur
}

package managers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

func TestPlaceVIPs(t *testing.T) {
	now := time.Unix(1000, 0)
	web := model.VIPGroup{Name: "web", Preempt: true, PreemptDelay: 5 * time.Second,
		Candidates: []model.Candidate{{Node: "dir2", Priority: 100}, {Node: "dir1", Priority: 200}}}
	alive := func(since time.Duration) NodeInfo {
		return NodeInfo{State: model.NodeAlive, AliveSince: now.Add(-since)}
	}
	holding := func(ni NodeInfo) NodeInfo { ni.Held = map[string]bool{"web": true}; return ni }
	cur := func(owner, from string) map[string]bus.Assignment {
		return map[string]bus.Assignment{"web": {Group: "web", Owner: owner, From: from, Since: now.Add(-time.Minute)}}
	}
	tests := []struct {
		name    string
		nodes   map[string]NodeInfo
		current map[string]bus.Assignment
		moves   map[string]bus.Desired
		group   func(model.VIPGroup) model.VIPGroup
		owner   string
		from    string
		reason  string
	}{
		{name: "first placement takes the highest priority",
			nodes: map[string]NodeInfo{"dir1": alive(time.Hour), "dir2": alive(time.Hour)},
			owner: "dir1", reason: "highest-priority alive candidate (priority 200)"},
		{name: "first placement adopts a node already holding it",
			nodes: map[string]NodeInfo{"dir1": alive(time.Hour), "dir2": holding(alive(time.Hour))},
			owner: "dir2", reason: "already held by dir2"},
		{name: "dead owner fails over",
			nodes:   map[string]NodeInfo{"dir1": {State: model.NodeDead}, "dir2": alive(time.Hour)},
			current: cur("dir1", ""), owner: "dir2",
			reason: "owner dir1 is dead (silent on the bus and over UDP); dir2 has the highest priority alive"},
		{name: "bus-isolated owner heard over UDP keeps it",
			nodes:   map[string]NodeInfo{"dir1": {State: model.NodeDead, UDPHeard: true}, "dir2": alive(time.Hour)},
			current: cur("dir1", ""), owner: "dir1"},
		{name: "suspect owner keeps it",
			nodes:   map[string]NodeInfo{"dir1": {State: model.NodeSuspect}, "dir2": alive(time.Hour)},
			current: cur("dir1", ""), owner: "dir1"},
		{name: "restarting owner keeps it within its grace",
			nodes:   map[string]NodeInfo{"dir1": {State: model.NodeLeft, GraceUntil: now.Add(time.Second)}, "dir2": alive(time.Hour)},
			current: cur("dir1", ""), owner: "dir1"},
		{name: "left owner past its grace fails over",
			nodes:   map[string]NodeInfo{"dir1": {State: model.NodeLeft, GraceUntil: now.Add(-time.Second)}, "dir2": alive(time.Hour)},
			current: cur("dir1", ""), owner: "dir2", reason: "owner dir1 left; dir2 has the highest priority alive"},
		{name: "no preemption before preempt_delay",
			nodes:   map[string]NodeInfo{"dir1": alive(time.Second), "dir2": alive(time.Hour)},
			current: cur("dir2", ""), owner: "dir2"},
		{name: "preemption after preempt_delay is a graceful move",
			nodes:   map[string]NodeInfo{"dir1": alive(6 * time.Second), "dir2": alive(time.Hour)},
			current: cur("dir2", ""), owner: "dir1", from: "dir2", reason: "preempted by higher-priority dir1 (200 > 100)"},
		{name: "preempt off keeps the owner",
			nodes:   map[string]NodeInfo{"dir1": alive(time.Hour), "dir2": alive(time.Hour)},
			group:   func(g model.VIPGroup) model.VIPGroup { g.Preempt = false; return g },
			current: cur("dir2", ""), owner: "dir2"},
		{name: "handover waits for the new owner to hold",
			nodes:   map[string]NodeInfo{"dir1": alive(time.Hour), "dir2": alive(time.Hour)},
			current: cur("dir1", "dir2"), owner: "dir1", from: "dir2"},
		{name: "handover completes once the new owner holds",
			nodes:   map[string]NodeInfo{"dir1": holding(alive(time.Hour)), "dir2": alive(time.Hour)},
			current: cur("dir1", "dir2"), owner: "dir1"},
		{name: "drained owner hands over gracefully",
			nodes:   map[string]NodeInfo{"dir1": {State: model.NodeAlive, Drained: true}, "dir2": alive(time.Hour)},
			current: cur("dir1", ""), owner: "dir2", from: "dir1", reason: "owner dir1 drained"},
		{name: "drained owner with nobody to take over keeps it",
			nodes:   map[string]NodeInfo{"dir1": {State: model.NodeAlive, Drained: true}, "dir2": {State: model.NodeDead}},
			current: cur("dir1", ""), owner: "dir1", reason: "owner dir1 drained, but no other candidate is alive"},
		{name: "operator move pins the group",
			nodes:   map[string]NodeInfo{"dir1": alive(time.Hour), "dir2": alive(time.Hour)},
			current: cur("dir1", ""), moves: map[string]bus.Desired{"web": {Node: "dir2", At: now}},
			owner: "dir2", from: "dir1", reason: "moved to dir2 by operator"},
		{name: "an old move request is not replayed",
			nodes:   map[string]NodeInfo{"dir1": alive(time.Hour), "dir2": alive(time.Hour)},
			current: cur("dir1", ""), moves: map[string]bus.Desired{"web": {Node: "dir2", At: now.Add(-time.Hour)}},
			owner: "dir1"},
		{name: "nobody alive",
			nodes: map[string]NodeInfo{"dir1": {State: model.NodeDead}}, owner: "", reason: "no candidate is alive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := web
			if tt.group != nil {
				g = tt.group(g)
			}
			out, _ := PlaceVIPs(VIPInput{Groups: []model.VIPGroup{g}, Nodes: tt.nodes, Current: tt.current, Moves: tt.moves, Now: now})
			got := out[0]
			if got.Owner != tt.owner || got.From != tt.from {
				t.Fatalf("owner %q from %q (%s), want owner %q from %q", got.Owner, got.From, got.Reason, tt.owner, tt.from)
			}
			if tt.reason != "" {
				if diff := cmp.Diff(tt.reason, got.Reason); diff != "" {
					t.Errorf("reason (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// A pinned group is not preempted back.
func TestPinnedGroupIsNotPreempted(t *testing.T) {
	now := time.Unix(1000, 0)
	g := model.VIPGroup{Name: "web", Preempt: true, Candidates: []model.Candidate{{Node: "dir1", Priority: 200}, {Node: "dir2", Priority: 100}}}
	nodes := map[string]NodeInfo{"dir1": {State: model.NodeAlive}, "dir2": {State: model.NodeAlive, Held: map[string]bool{"web": true}}}
	cur := map[string]bus.Assignment{"web": {Group: "web", Owner: "dir2", Pinned: true, Since: now}}
	out, moves := PlaceVIPs(VIPInput{Groups: []model.VIPGroup{g}, Nodes: nodes, Current: cur, Now: now.Add(time.Hour)})
	if out[0].Owner != "dir2" || len(moves) != 0 {
		t.Fatalf("pinned group moved: %+v %+v", out[0], moves)
	}
}

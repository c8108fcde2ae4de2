package managers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

type step struct {
	at   time.Duration // since start
	hb   *bus.Heartbeat
	bye  *bus.Leave
	want []string // "node:from->to"
}

func hb(node, boot string, seq uint64) *bus.Heartbeat {
	return &bus.Heartbeat{V: 1, Node: node, Boot: boot, Seq: seq, IntervalMS: 100}
}

func TestMembershipTransitions(t *testing.T) {
	start := time.Unix(0, 0)
	m := NewMembership(MembershipConfig{Self: "a", Voters: 3, SuspectAfter: 300 * time.Millisecond, DeadAfter: time.Second}, start)
	steps := []step{
		{at: 0, hb: hb("b", "b1", 1), want: []string{"b:unknown->alive"}},
		{at: 100 * time.Millisecond, hb: hb("b", "b1", 1)}, // duplicate
		{at: 200 * time.Millisecond, hb: hb("c", "c1", 1), want: []string{"c:unknown->alive"}},
		{at: 450 * time.Millisecond, want: []string{"b:alive->suspect"}},
		{at: 460 * time.Millisecond, hb: hb("b", "b1", 2), want: []string{"b:suspect->alive"}},
		{at: 1300 * time.Millisecond, want: []string{"b:alive->suspect", "c:alive->dead"}},
		{at: 1500 * time.Millisecond, want: []string{"b:suspect->dead"}},
		{at: 1600 * time.Millisecond, hb: hb("b", "b2", 1), want: []string{"b:dead->alive"}},
		{at: 1700 * time.Millisecond, hb: hb("b", "b3", 1), want: []string{"b:alive->alive"}}, // restarted
		{at: 1750 * time.Millisecond, bye: &bus.Leave{V: 1, Node: "b", Boot: "b2"}},           // old incarnation
		{at: 1800 * time.Millisecond, bye: &bus.Leave{V: 1, Node: "b", Boot: "b3"}, want: []string{"b:alive->left"}},
		{at: 1850 * time.Millisecond, hb: hb("b", "b3", 2)}, // in flight when it left
		{at: 5 * time.Second}, // left nodes do not die
	}
	for _, s := range steps {
		now := start.Add(s.at)
		var ts []Transition
		switch {
		case s.hb != nil:
			ts = m.Heartbeat(*s.hb, now)
		case s.bye != nil:
			ts = m.Leave(*s.bye, now)
		default:
			ts = m.Tick(now)
		}
		var got []string
		for _, tr := range ts {
			got = append(got, tr.Node+":"+tr.From.String()+"->"+tr.To.String())
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Fatalf("at %v (-want +got):\n%s", s.at, diff)
		}
	}
	if got := m.State("b"); got != model.NodeLeft {
		t.Errorf("b = %v, want left", got)
	}
}

func TestQuorumAndManager(t *testing.T) {
	now := time.Unix(0, 0)
	m := NewMembership(MembershipConfig{Self: "a", Voters: 3, SuspectAfter: 300 * time.Millisecond, DeadAfter: time.Second}, now)
	if q := m.Quorum(); q.Have || q.Present != 1 || q.Needed != 2 {
		t.Fatalf("alone of 3: %+v", q)
	}
	b := hb("b", "b1", 1)
	b.Manager, b.Epoch = true, 5
	m.Heartbeat(*b, now)
	if q := m.Quorum(); !q.Have {
		t.Fatalf("two of 3: %+v", q)
	}
	if name, ep := m.Manager(); name != "b" || ep != 5 {
		t.Fatalf("manager = %s@%d, want b@5", name, ep)
	}
	// A newer epoch elsewhere makes b's claim stale even while b still says it.
	c := hb("c", "c1", 1)
	c.Manager, c.Epoch = true, 7
	m.Heartbeat(*c, now)
	if name, ep := m.Manager(); name != "c" || ep != 7 {
		t.Fatalf("manager = %s@%d, want c@7", name, ep)
	}
	// c dies: nobody is manager (b's epoch 5 is older than 7), until a newer claim.
	m.Tick(now.Add(2 * time.Second))
	m.Heartbeat(bus.Heartbeat{V: 1, Node: "b", Boot: "b1", Seq: 2, IntervalMS: 100, Manager: true, Epoch: 5}, now.Add(2*time.Second))
	if name, _ := m.Manager(); name != "" {
		t.Fatalf("manager = %q after the newest manager died, want none", name)
	}
	if q := m.Quorum(); !q.Have || q.Present != 2 {
		t.Fatalf("a and b of 3: %+v", q)
	}
}

func TestPlanRecords(t *testing.T) {
	now := time.Unix(100, 0)
	view := []model.Node{
		{Name: "a", State: model.NodeAlive, Boot: "a1"},
		{Name: "b", State: model.NodeDead, Reason: "no heartbeat for 2s"},
		{Name: "c", State: model.NodeAlive, Boot: "c2"},
		{Name: "d", State: model.NodeSuspect},
		{Name: "e", State: model.NodeAlive},
	}
	stored := map[string]StoredRecord{
		"b": {Record: bus.NodeRecord{Node: "b", State: model.NodeAlive}, Revision: 4},
		"c": {Record: bus.NodeRecord{Node: "c", State: model.NodeAlive, Boot: "c1"}, Revision: 5},
		"d": {Record: bus.NodeRecord{Node: "d", State: model.NodeAlive}, Revision: 6},
		"e": {Record: bus.NodeRecord{Node: "e", State: model.NodeLeft, Epoch: 9}, Revision: 7}, // newer manager wrote it
	}
	var got []string
	for _, u := range PlanRecords(view, stored, 3, now) {
		got = append(got, u.Node+":"+u.Event)
		if u.Record.Epoch != 3 {
			t.Errorf("%s record epoch %d, want 3", u.Node, u.Record.Epoch)
		}
	}
	want := []string{"a:node.joined", "b:node.dead", "c:node.joined", "d:node.suspect"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
}

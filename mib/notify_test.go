package mib

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/internal/snmptest"
	"github.com/droverha/drover/mib/agentx"
	"github.com/droverha/drover/model"
)

// notificationObjects reads each NOTIFICATION-TYPE's OBJECTS from the MIB.
func notificationObjects(t *testing.T) map[string][]string {
	t.Helper()
	text, err := os.ReadFile("DROVER-MIB.txt")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\w+)\s+NOTIFICATION-TYPE\s+OBJECTS\s*\{([^}]*)\}`)
	out := map[string][]string{}
	for _, m := range re.FindAllStringSubmatch(string(text), -1) {
		for o := range strings.SplitSeq(m[2], ",") {
			out[m[1]] = append(out[m[1]], strings.TrimSpace(o))
		}
	}
	return out
}

func event(t *testing.T, typ, subject string, epoch uint64, d bus.EventData) bus.Event {
	t.Helper()
	e, err := bus.NewEvent("farm", "dir1", typ, subject, epoch, d, snmptest.ViewTime)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestFromEvent builds every notification from its event and checks it
// against the MIB: the NOTIFICATION-TYPE's OID, its OBJECTS in order, each
// an instance of the right row, and the values a receiver acts on.
func TestFromEvent(t *testing.T) {
	objs := parseMIB(t)
	objects := notificationObjects(t)
	v := snmptest.ThreeNodeView()
	web1 := NameHash("web1")
	rs, _ := RealServerIndex(NameHash("web-http"), "198.51.100.23:80")
	cases := []struct {
		notification string
		e            bus.Event
		index        []agentx.OID // the instance index of each varbind
		values       []any
	}{
		{"droverNodeDown", event(t, bus.EventNodeDead, "web1", 17, bus.EventData{Node: "web1", State: "dead", Reason: "no heartbeat for 700ms"}),
			[]agentx.OID{{web1}, {web1}, {web1}}, []any{"web1", int32(4), "no heartbeat for 700ms"}},
		{"droverNodeDown", event(t, bus.EventNodeLeft, "web1", 17, bus.EventData{Node: "web1", Reason: "shutdown"}),
			[]agentx.OID{{web1}, {web1}, {web1}}, []any{"web1", int32(5), "shutdown"}},
		{"droverNodeUp", event(t, bus.EventNodeAlive, "web1", 17, bus.EventData{Node: "web1"}),
			[]agentx.OID{{web1}, {web1}, {web1}}, []any{"web1", int32(2), ""}},
		{"droverManagerElected", event(t, bus.EventManagerElected, "dir2", 18, bus.EventData{Node: "dir2", Epoch: 18}),
			[]agentx.OID{{0}, {0}}, []any{"dir2", uint64(18)}},
		{"droverQuorumLost", event(t, bus.EventQuorumLost, "dir1", 0, bus.EventData{Node: "dir1", Present: 1, Voters: 3}),
			[]agentx.OID{{0}, {0}, {0}}, []any{int32(2), uint32(1), uint32(2)}},
		{"droverQuorumRegained", event(t, bus.EventQuorumRegained, "dir1", 0, bus.EventData{Node: "dir1", Present: 2, Voters: 3}),
			[]agentx.OID{{0}, {0}, {0}}, []any{int32(1), uint32(2), uint32(2)}},
		{"droverVipGroupMoved", event(t, bus.EventVIPMoved, "web", 18, bus.EventData{Group: "web", From: "dir1", To: "dir2", Reason: "dir1 died", Epoch: 18}),
			[]agentx.OID{{NameHash("web")}, {NameHash("web")}, {NameHash("web")}, {NameHash("web")}, {NameHash("web")}},
			[]any{"web", "dir2", "dir1", "dir1 died", uint64(18)}},
		{"droverRealServerDown", event(t, bus.EventRealServerDown, "web-http", 17, bus.EventData{Service: "web-http", RealServer: "198.51.100.23:80", Reason: "connect: connection refused"}),
			[]agentx.OID{{NameHash("web-http")}, rs, rs, rs}, []any{"web-http", "198.51.100.23:80", int32(2), "connect: connection refused"}},
		{"droverRealServerUp", event(t, bus.EventRealServerUp, "web-http", 17, bus.EventData{Service: "web-http", RealServer: "198.51.100.23:80", Reason: "HTTP 200"}),
			[]agentx.OID{{NameHash("web-http")}, rs, rs, rs}, []any{"web-http", "198.51.100.23:80", int32(1), "HTTP 200"}},
		{"droverServiceQuorumLost", event(t, bus.EventQuorumLostService, "dns", 17, bus.EventData{Service: "dns"}),
			[]agentx.OID{{NameHash("dns")}, {NameHash("dns")}, {NameHash("dns")}, {NameHash("dns")}, {NameHash("dns")}},
			[]any{"dns", int32(2), uint32(0), uint32(1), int32(2)}},
		{"droverServiceQuorumRegained", event(t, bus.EventQuorumRegainedSvc, "web-http", 17, bus.EventData{Service: "web-http"}),
			[]agentx.OID{{NameHash("web-http")}, {NameHash("web-http")}, {NameHash("web-http")}, {NameHash("web-http")}, {NameHash("web-http")}},
			[]any{"web-http", int32(1), uint32(100), uint32(120), int32(2)}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.notification] = true
		n, ok := FromEvent(c.e, v)
		if !ok {
			t.Errorf("%s: no notification", c.e.Type)
			continue
		}
		if want := objs[c.notification].oid; !n.TrapOID.Equal(want) {
			t.Errorf("%s: trap OID %v, want %s %v", c.e.Type, n.TrapOID, c.notification, want)
		}
		names := objects[c.notification]
		if len(n.VarBinds) != len(names) {
			t.Errorf("%s: %d varbinds, OBJECTS has %d", c.e.Type, len(n.VarBinds), len(names))
			continue
		}
		for i, vb := range n.VarBinds {
			want := objs[names[i]].oid.Append(c.index[i]...)
			if !vb.Name.Equal(want) {
				t.Errorf("%s varbind %d: %v, want %s instance %v", c.e.Type, i, vb.Name, names[i], want)
			}
			if wt := wireType[objs[names[i]].syntax]; vb.Type != wt {
				t.Errorf("%s varbind %d (%s): type %v, want %v", c.e.Type, i, names[i], vb.Type, wt)
			}
			got := vb.Value
			if b, ok := got.([]byte); ok {
				got = string(b)
			}
			if got != c.values[i] {
				t.Errorf("%s varbind %d (%s) = %#v, want %#v", c.e.Type, i, names[i], got, c.values[i])
			}
		}
	}
	for name := range objects {
		if !seen[name] {
			t.Errorf("%s is made by no event", name)
		}
	}
	// Events that make no notification.
	for _, typ := range []string{bus.EventNodeSuspect, bus.EventConfigApplied, bus.EventVIPAcquired, bus.EventManagerResigned} {
		if _, ok := FromEvent(event(t, typ, "dir1", 0, bus.EventData{Node: "dir1"}), v); ok {
			t.Errorf("%s made a notification", typ)
		}
	}
	if _, ok := FromEvent(bus.Event{Type: "drover.node.dead", Data: []byte("{")}, v); ok {
		t.Error("a malformed event made a notification")
	}
}

type recordSink struct{ got chan Notification }

func (r recordSink) Notify(n Notification) { r.got <- n }

// TestNotifierNeverBlocks: Event returns at once even when nothing drains
// the queue, and counts what it drops.
func TestNotifierNeverBlocks(t *testing.T) {
	sink := recordSink{got: make(chan Notification, 1024)}
	n := NewNotifier(func() model.View { return snmptest.ThreeNodeView() }, nil, sink)
	e := event(t, bus.EventNodeDead, "web1", 17, bus.EventData{Node: "web1"})
	start := time.Now()
	for range 1000 {
		n.Event(e)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("1000 events took %v", d)
	}
	if _, dropped := n.Counts(); dropped != 1000-256 {
		t.Errorf("dropped %d, want %d", dropped, 1000-256)
	}
	done := make(chan struct{})
	go n.Run(done)
	defer close(done)
	select {
	case got := <-sink.got:
		if !got.TrapOID.Equal(NotificationsOID.Append(2)) {
			t.Errorf("trap %v", got.TrapOID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification delivered")
	}
}

package check

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFake(t *testing.T) {
	var changes []Status
	f := NewFake(func(s Status) { changes = append(changes, s) })
	a, b := target("192.0.2.1:80", 1, 1), target("192.0.2.2:80", 1, 1)
	f.Set([]Target{a, b, a})
	if !f.Report(Status{Target: a, Healthy: true, Known: true, Reason: "fine"}) {
		t.Fatal("Report of a set target = false")
	}
	f.Report(Status{Target: a, Healthy: true, Known: true, Reason: "still fine"}) // no change
	f.Set([]Target{a})
	if f.Report(Status{Target: b, Known: true}) {
		t.Error("Report of a dropped target = true")
	}

	want := []Status{{Target: withDefaults(a), Healthy: true, Known: true, Reason: "fine"}}
	if diff := cmp.Diff(want, changes, addrs); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	want[0].Reason = "still fine"
	if diff := cmp.Diff(want, f.Statuses(), addrs); diff != "" {
		t.Errorf("Statuses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]Target{{a, b, a}, {a}}, f.Sets(), addrs); diff != "" {
		t.Errorf("Sets (-want +got):\n%s", diff)
	}
}

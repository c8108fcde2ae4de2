package agent

import (
	"context"
	"testing"
	"time"
)

// A drain requested through the agent (what the CIM face's
// RequestStateChange does) shows in the agent's own view, and an undrain
// clears it.
func TestRequestDrainNodeShowsInView(t *testing.T) {
	a := startAgent(t, testConfig(t, "solo"))
	waitFor(t, 10*time.Second, "solo to be manager", func() bool {
		v := a.View()
		return v.Manager == "solo" && v.Quorum.Have
	})
	drained := func() bool {
		for _, n := range a.View().Nodes {
			if n.Name == "solo" {
				return n.Drained
			}
		}
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := a.DrainNode(ctx, "solo", true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "solo to show as drained", drained)
	if err := a.DrainNode(ctx, "solo", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "solo to show as undrained", func() bool { return !drained() })
}

func TestRequestRefusesBadNames(t *testing.T) {
	a, err := New(testConfig(t, "solo"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.DrainNode(ctx, "bad name", true); err == nil {
		t.Error("DrainNode(\"bad name\") succeeded")
	}
	if err := a.MoveVIPGroup(ctx, "web", "a.b"); err == nil {
		t.Error("MoveVIPGroup(web, a.b) succeeded")
	}
	if err := a.DrainNode(ctx, "solo", true); err == nil {
		t.Error("DrainNode on an agent that is not running succeeded")
	}
	for _, c := range [][3]string{{"web", "198.51.100.1:80", "off"}, {"web", "198.51.100.1", "quiesced"}, {"a.b", "198.51.100.1:80", "disabled"}, {"web", "[fe80::1%eth0]:80", "enabled"}} {
		if err := a.SetRealServerAdmin(ctx, c[0], c[1], c[2]); err == nil || err == errNotRunning {
			t.Errorf("SetRealServerAdmin(%q, %q, %q) = %v, want it refused", c[0], c[1], c[2], err)
		}
	}
}

package agent

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/droverha/drover/agent/ipvs"
	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

// countEvents counts the events of each type.
func countEvents(es []bus.Event) map[string]int {
	out := map[string]int{}
	for _, e := range es {
		out[e.DroverType()]++
	}
	return out
}

// An operator quiesces, disables and enables a healthy real server: the
// kernel table follows (weight 0, gone, back at its weight), the view
// shows the state, and each change, like a drain and an undrain, is
// announced once. A restarted manager keeps the standing requests it
// loads and does not announce them again.
func TestRealServerAdminState(t *testing.T) {
	rs := []*realServer{newRealServer(t), newRealServer(t)}
	check := model.Check{Kind: "http", Method: "GET", Path: "/", Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 2, Fall: 2}
	svc := model.VirtualService{
		Name: "web", Protocol: "tcp", Address: netip.MustParseAddrPort("192.0.2.10:80"), Scheduler: "wrr",
		OnFailure: model.OnFailureRemove, Check: check,
	}
	for i, r := range rs {
		svc.RealServers = append(svc.RealServers, model.RealServer{Address: r.addr, Weight: i + 2, Forward: "nat"})
	}
	fake := ipvs.NewFake()
	cfg := testConfig(t, "solo")
	cfg.Services, cfg.Director, cfg.IPVS = []model.VirtualService{svc}, true, fake
	a := startAgent(t, cfg)
	r0, r1 := rs[0].addr.String(), rs[1].addr.String()
	waitFor(t, 15*time.Second, "both real servers in the kernel table", func() bool {
		return sameWeights(kernelDests(fake), map[string]int{r0: 2, r1: 3})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viewOf := func(a *running) model.RealServerView {
		for _, s := range a.View().Services {
			for _, r := range s.RealServers {
				if r.Address == r0 {
					return r
				}
			}
		}
		return model.RealServerView{}
	}

	if err := a.SetRealServerAdmin(ctx, "web", r0, model.AdminQuiesced); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the quiesced real server at weight 0", func() bool {
		return sameWeights(kernelDests(fake), map[string]int{r0: 0, r1: 3})
	})
	waitFor(t, 5*time.Second, "the view to show it quiesced", func() bool {
		v := viewOf(a)
		return v.Admin == model.AdminQuiesced && v.Applied == 0 && v.Healthy
	})
	if v := a.View().Services[0]; v.Quorum.HealthyWeight != 3 {
		t.Errorf("healthy weight = %d, want 3 (the quiesced server does not count)", v.Quorum.HealthyWeight)
	}

	if err := a.SetRealServerAdmin(ctx, "web", r0, model.AdminDisabled); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the disabled real server out of the table", func() bool {
		return sameWeights(kernelDests(fake), map[string]int{r1: 3})
	})
	waitFor(t, 5*time.Second, "the view to show it disabled", func() bool {
		v := viewOf(a)
		return v.Admin == model.AdminDisabled && v.Applied == -1
	})

	if err := a.SetRealServerAdmin(ctx, "web", r0, model.AdminEnabled); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the enabled real server back at its weight", func() bool {
		return sameWeights(kernelDests(fake), map[string]int{r0: 2, r1: 3})
	})
	if v := viewOf(a); v.Admin != "" {
		t.Errorf("view admin = %q after enabling, want none", v.Admin)
	}

	// Standing requests for the restart: r0 quiesced (asked twice: one
	// change), the node drained and undrained and drained again.
	for _, step := range []func() error{
		func() error { return a.SetRealServerAdmin(ctx, "web", r0, model.AdminQuiesced) },
		func() error { return a.SetRealServerAdmin(ctx, "web", r0, model.AdminQuiesced) },
		func() error { return a.DrainNode(ctx, "solo", true) },
		func() error { return a.DrainNode(ctx, "solo", false) },
		func() error { return a.DrainNode(ctx, "solo", true) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{bus.EventRealServerAdmin: 4, bus.EventNodeDrained: 2, bus.EventNodeUndrained: 1}
	var got map[string]int
	var evs []bus.Event
	waitFor(t, 10*time.Second, "the operators' changes announced", func() bool {
		evs = readAllEvents(t, a.ClientURL(), "test", 0)
		got = countEvents(evs)
		return got[bus.EventNodeDrained] >= 2 && got[bus.EventRealServerAdmin] >= 4
	})
	var states []string
	for _, e := range evs {
		if e.DroverType() != bus.EventRealServerAdmin {
			continue
		}
		d, err := e.Payload()
		if err != nil {
			t.Fatal(err)
		}
		if d.Service != "web" || d.RealServer != r0 || d.By != "agent:solo" || d.Epoch == 0 || e.Epoch == 0 {
			t.Errorf("realserver.admin data = %+v, want web, %s, by agent:solo, with the epoch", d, r0)
		}
		states = append(states, d.State)
	}
	if want := []string{"quiesced", "disabled", "enabled", "quiesced"}; !slices.Equal(states, want) {
		t.Errorf("realserver.admin states = %v, want %v", states, want)
	}
	time.Sleep(time.Second) // a few more manager rounds: nothing repeats
	got = countEvents(readAllEvents(t, a.ClientURL(), "test", 0))
	for typ, n := range want {
		if got[typ] != n {
			t.Errorf("%d %s events, want %d", got[typ], typ, n)
		}
	}

	// A new manager (the same node restarted) loads the standing requests
	// and applies them, without announcing them again.
	a.stop(t)
	fake2 := ipvs.NewFake()
	cfg.IPVS = fake2
	b := startAgent(t, cfg)
	waitFor(t, 15*time.Second, "the restarted manager to keep r0 quiesced", func() bool {
		return sameWeights(kernelDests(fake2), map[string]int{r0: 0, r1: 3}) && viewOf(b).Admin == model.AdminQuiesced
	})
	time.Sleep(time.Second)
	got = countEvents(readAllEvents(t, b.ClientURL(), "test", 0))
	for typ, n := range want {
		if got[typ] != n {
			t.Errorf("after the restart: %d %s events, want %d", got[typ], typ, n)
		}
	}
}

package managers

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/droverha/drover/model"
)

func webService() model.VirtualService {
	check := model.Check{Kind: "http", Path: "/", Interval: 500 * time.Millisecond, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2}
	return model.VirtualService{
		Name: "web", Protocol: "tcp", Address: netip.MustParseAddrPort("192.0.2.10:80"), Scheduler: "wrr",
		OnFailure: model.OnFailureRemove, Check: check,
		RealServers: []model.RealServer{
			{Address: netip.MustParseAddrPort("198.51.100.11:80"), Weight: 1, Forward: "nat"},
			{Address: netip.MustParseAddrPort("198.51.100.12:80"), Weight: 2, Forward: "nat"},
			{Address: netip.MustParseAddrPort("198.51.100.13:80"), Weight: 3, Forward: "nat", Node: "rs3"},
		},
	}
}

// probes builds fresh results: per real server index, per node, up or down.
func probes(spec model.VirtualService, res map[int]map[string]bool) map[string][]Probe {
	out := map[string][]Probe{}
	for i, byNode := range res {
		rs := spec.RealServers[i]
		c := spec.EffectiveCheck(rs)
		id := c.ID(c.Target(rs.Address))
		for node, up := range byNode {
			reason := "http: 200"
			if !up {
				reason = "connect: connection refused"
			}
			out[id] = append(out[id], Probe{Node: node, Self: node == rs.Node, Healthy: up, Known: true, Reason: reason})
		}
	}
	return out
}

func applied(st ServiceState) map[string]int {
	m := map[string]int{}
	for _, r := range st.Real {
		m[r.Address.String()] = r.Applied
	}
	return m
}

func TestPlanServices(t *testing.T) {
	now := time.Unix(1000, 0)
	all := func(nodes ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range nodes {
			m[n] = true
		}
		return m
	}
	tests := []struct {
		name    string
		spec    func(*model.VirtualService)
		prev    func(model.VirtualService) map[string]ServiceState // nil: no previous decision
		results map[int]map[string]bool
		admin   map[int]string // real server index → administrative state
		applied map[string]int
		quorum  bool
		healthy int               // healthy weight, checked when admin is set
		reasons map[string]string // real server → reason
		events  []ServiceTransition
	}{
		{name: "nothing probed yet: nothing in the table, no event",
			applied: map[string]int{"198.51.100.11:80": -1, "198.51.100.12:80": -1, "198.51.100.13:80": -1},
			reasons: map[string]string{"198.51.100.11:80": "not probed yet"},
		},
		{name: "all healthy: configured weights",
			results: map[int]map[string]bool{0: all("dir1"), 1: all("dir1"), 2: all("dir1")},
			applied: map[string]int{"198.51.100.11:80": 1, "198.51.100.12:80": 2, "198.51.100.13:80": 3},
			quorum:  true,
			reasons: map[string]string{"198.51.100.11:80": "up by dir1"},
			events: []ServiceTransition{
				{Type: "realserver.up", Service: "web", RealServer: "198.51.100.11:80", Reason: "up by dir1"},
				{Type: "realserver.up", Service: "web", RealServer: "198.51.100.12:80", Reason: "up by dir1"},
				{Type: "realserver.up", Service: "web", RealServer: "198.51.100.13:80", Reason: "up by dir1"},
			},
		},
		{name: "one down is removed, with the failing node's reason",
			prev:    allUp,
			results: map[int]map[string]bool{0: {"dir1": false, "dir2": false}, 1: all("dir1", "dir2"), 2: all("dir1")},
			applied: map[string]int{"198.51.100.11:80": -1, "198.51.100.12:80": 2, "198.51.100.13:80": 3},
			quorum:  true,
			reasons: map[string]string{"198.51.100.11:80": "dir1: connect: connection refused"},
			events:  []ServiceTransition{{Type: "realserver.down", Service: "web", RealServer: "198.51.100.11:80", Reason: "dir1: connect: connection refused"}},
		},
		{name: "quiescent keeps a failed server at weight 0",
			spec:    func(s *model.VirtualService) { s.OnFailure = model.OnFailureQuiescent },
			prev:    allUp,
			results: map[int]map[string]bool{0: {"dir1": false}, 1: all("dir1"), 2: all("dir1")},
			applied: map[string]int{"198.51.100.11:80": 0, "198.51.100.12:80": 2, "198.51.100.13:80": 3},
			quorum:  true,
			events:  []ServiceTransition{{Type: "realserver.down", Service: "web", RealServer: "198.51.100.11:80", Reason: "dir1: connect: connection refused"}},
		},
		{name: "directors split evenly: it stays in",
			prev:    allUp,
			results: map[int]map[string]bool{0: {"dir1": true, "dir2": false}, 1: all("dir1"), 2: all("dir1")},
			applied: map[string]int{"198.51.100.11:80": 1, "198.51.100.12:80": 2, "198.51.100.13:80": 3},
			quorum:  true,
			reasons: map[string]string{"198.51.100.11:80": "up by dir1; down by dir2: connect: connection refused"},
		},
		{name: "its own agent says down: out, whatever the directors see",
			prev:    allUp,
			results: map[int]map[string]bool{0: all("dir1"), 1: all("dir1"), 2: {"dir1": true, "rs3": false}},
			applied: map[string]int{"198.51.100.11:80": 1, "198.51.100.12:80": 2, "198.51.100.13:80": -1},
			quorum:  true,
			reasons: map[string]string{"198.51.100.13:80": "its own agent rs3 reports it down: connect: connection refused"},
			events:  []ServiceTransition{{Type: "realserver.down", Service: "web", RealServer: "198.51.100.13:80", Reason: "its own agent rs3 reports it down: connect: connection refused"}},
		},
		{name: "all down: the sorry server takes over and quorum is lost",
			spec: func(s *model.VirtualService) {
				s.Sorry = &model.RealServer{Address: netip.MustParseAddrPort("198.51.100.99:80"), Forward: "nat", Weight: 1}
			},
			prev:    allUp,
			results: map[int]map[string]bool{0: {"dir1": false}, 1: {"dir1": false}, 2: {"dir1": false}},
			applied: map[string]int{"198.51.100.11:80": -1, "198.51.100.12:80": -1, "198.51.100.13:80": -1, "198.51.100.99:80": 1},
			events: []ServiceTransition{
				{Type: "realserver.down", Service: "web", RealServer: "198.51.100.11:80", Reason: "dir1: connect: connection refused"},
				{Type: "realserver.down", Service: "web", RealServer: "198.51.100.12:80", Reason: "dir1: connect: connection refused"},
				{Type: "realserver.down", Service: "web", RealServer: "198.51.100.13:80", Reason: "dir1: connect: connection refused"},
				{Type: "service.quorum.lost", Service: "web", Reason: "healthy weight 0 below quorum 1"},
			},
		},
		{name: "below a quorum of 4 the sorry server serves alone",
			spec: func(s *model.VirtualService) {
				s.Quorum, s.Hysteresis = 4, 1
				s.Sorry = &model.RealServer{Address: netip.MustParseAddrPort("198.51.100.99:80"), Forward: "nat", Weight: 1}
			},
			prev:    allUp,
			results: map[int]map[string]bool{0: all("dir1"), 1: all("dir1"), 2: {"dir1": false}},
			applied: map[string]int{"198.51.100.11:80": -1, "198.51.100.12:80": -1, "198.51.100.13:80": -1, "198.51.100.99:80": 1},
			events: []ServiceTransition{
				{Type: "realserver.down", Service: "web", RealServer: "198.51.100.13:80", Reason: "dir1: connect: connection refused"},
				{Type: "service.quorum.lost", Service: "web", Reason: "healthy weight 3 below quorum 4"},
			},
		},
		{name: "quiesced: weight 0 whatever its health, not counted toward quorum",
			prev:    allUp,
			results: map[int]map[string]bool{0: all("dir1"), 1: {"dir1": false}, 2: all("dir1")},
			admin:   map[int]string{0: model.AdminQuiesced, 1: model.AdminQuiesced},
			applied: map[string]int{"198.51.100.11:80": 0, "198.51.100.12:80": 0, "198.51.100.13:80": 3},
			quorum:  true, healthy: 3,
			reasons: map[string]string{
				"198.51.100.11:80": "quiesced by an operator; up by dir1",
				"198.51.100.12:80": "quiesced by an operator; dir1: connect: connection refused",
			},
			events: []ServiceTransition{{Type: "realserver.down", Service: "web", RealServer: "198.51.100.12:80", Reason: "quiesced by an operator; dir1: connect: connection refused"}},
		},
		{name: "disabled: out of the table although healthy",
			prev:    allUp,
			results: map[int]map[string]bool{0: all("dir1"), 1: all("dir1"), 2: all("dir1")},
			admin:   map[int]string{1: model.AdminDisabled, 2: model.AdminEnabled},
			applied: map[string]int{"198.51.100.11:80": 1, "198.51.100.12:80": -1, "198.51.100.13:80": 3},
			quorum:  true, healthy: 4,
			reasons: map[string]string{"198.51.100.12:80": "disabled by an operator; up by dir1", "198.51.100.13:80": "up by dir1"},
		},
		{name: "all disabled: the sorry server takes over",
			spec: func(s *model.VirtualService) {
				s.Sorry = &model.RealServer{Address: netip.MustParseAddrPort("198.51.100.99:80"), Forward: "nat", Weight: 1}
			},
			prev:    allUp,
			results: map[int]map[string]bool{0: all("dir1"), 1: all("dir1"), 2: all("dir1")},
			admin:   map[int]string{0: model.AdminDisabled, 1: model.AdminDisabled, 2: model.AdminDisabled},
			applied: map[string]int{"198.51.100.11:80": -1, "198.51.100.12:80": -1, "198.51.100.13:80": -1, "198.51.100.99:80": 1},
			healthy: 0,
			events: []ServiceTransition{
				{Type: "service.quorum.lost", Service: "web", Reason: "healthy weight 0 below quorum 1 (3 of 3 real servers quiesced or disabled by an operator)"},
			},
		},
		{name: "quiesced stays at weight 0 while the sorry server serves",
			spec: func(s *model.VirtualService) {
				s.Quorum = 4
				s.Sorry = &model.RealServer{Address: netip.MustParseAddrPort("198.51.100.99:80"), Forward: "nat", Weight: 1}
			},
			prev:    allUp,
			results: map[int]map[string]bool{0: all("dir1"), 1: all("dir1"), 2: all("dir1")},
			admin:   map[int]string{2: model.AdminQuiesced},
			applied: map[string]int{"198.51.100.11:80": -1, "198.51.100.12:80": -1, "198.51.100.13:80": 0, "198.51.100.99:80": 1},
			healthy: 3,
			events: []ServiceTransition{
				{Type: "service.quorum.lost", Service: "web", Reason: "healthy weight 3 below quorum 4 (1 of 3 real servers quiesced or disabled by an operator)"},
			},
		},
		{name: "hysteresis: reaching the quorum is not enough to regain it",
			spec: func(s *model.VirtualService) {
				s.Quorum, s.Hysteresis = 3, 2
				s.Sorry = &model.RealServer{Address: netip.MustParseAddrPort("198.51.100.99:80"), Forward: "nat", Weight: 1}
			},
			prev:    allDownShort,
			results: map[int]map[string]bool{0: all("dir1"), 1: all("dir1"), 2: {"dir1": false}},
			applied: map[string]int{"198.51.100.11:80": -1, "198.51.100.12:80": -1, "198.51.100.13:80": -1, "198.51.100.99:80": 1},
			events: []ServiceTransition{
				{Type: "realserver.up", Service: "web", RealServer: "198.51.100.11:80", Reason: "up by dir1"},
				{Type: "realserver.up", Service: "web", RealServer: "198.51.100.12:80", Reason: "up by dir1"},
			},
		},
		{name: "hysteresis: regained at quorum+hysteresis",
			spec: func(s *model.VirtualService) {
				s.Quorum, s.Hysteresis = 3, 2
				s.Sorry = &model.RealServer{Address: netip.MustParseAddrPort("198.51.100.99:80"), Forward: "nat", Weight: 1}
			},
			prev:    allDownShort,
			results: map[int]map[string]bool{0: all("dir1"), 1: all("dir1"), 2: all("dir1")},
			applied: map[string]int{"198.51.100.11:80": 1, "198.51.100.12:80": 2, "198.51.100.13:80": 3, "198.51.100.99:80": -1},
			quorum:  true,
			events: []ServiceTransition{
				{Type: "realserver.up", Service: "web", RealServer: "198.51.100.11:80", Reason: "up by dir1"},
				{Type: "realserver.up", Service: "web", RealServer: "198.51.100.12:80", Reason: "up by dir1"},
				{Type: "realserver.up", Service: "web", RealServer: "198.51.100.13:80", Reason: "up by dir1"},
				{Type: "service.quorum.regained", Service: "web", Reason: "healthy weight 6, quorum 3"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := webService()
			if tt.spec != nil {
				tt.spec(&spec)
			}
			in := ServicesInput{Specs: []model.VirtualService{spec}, Probes: probes(spec, tt.results), Now: now}
			if tt.prev != nil {
				in.Prev = tt.prev(spec)
			}
			if tt.admin != nil {
				in.Admin = map[RealServerRef]string{}
				for i, a := range tt.admin {
					in.Admin[RealServerRef{Service: spec.Name, Address: spec.RealServers[i].Address}] = a
				}
			}
			out, events := PlanServices(in)
			st := out["web"]
			if tt.admin != nil && st.HealthyWeight != tt.healthy {
				t.Errorf("healthy weight = %d, want %d", st.HealthyWeight, tt.healthy)
			}
			if diff := cmp.Diff(tt.applied, applied(st)); diff != "" {
				t.Errorf("applied weights (-want +got):\n%s", diff)
			}
			if st.Quorum != tt.quorum {
				t.Errorf("quorum = %v (%s), want %v", st.Quorum, st.Reason, tt.quorum)
			}
			for addr, want := range tt.reasons {
				for _, r := range st.Real {
					if r.Address.String() == addr && r.Reason != want {
						t.Errorf("%s: reason %q, want %q", addr, r.Reason, want)
					}
				}
			}
			if diff := cmp.Diff(tt.events, events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// allUp is the decision after every real server was seen healthy.
func allUp(spec model.VirtualService) map[string]ServiceState {
	res := map[int]map[string]bool{}
	for i := range spec.RealServers {
		res[i] = map[string]bool{"dir1": true}
	}
	out, _ := PlanServices(ServicesInput{Specs: []model.VirtualService{spec}, Probes: probes(spec, res), Now: time.Unix(900, 0)})
	return out
}

// allDownShort is the decision after every real server was seen down, with
// the service's quorum lost.
func allDownShort(spec model.VirtualService) map[string]ServiceState {
	res := map[int]map[string]bool{}
	for i := range spec.RealServers {
		res[i] = map[string]bool{"dir1": false}
	}
	out, _ := PlanServices(ServicesInput{Specs: []model.VirtualService{spec}, Probes: probes(spec, res), Now: time.Unix(900, 0)})
	return out
}

func TestPlanServicesKeepsSince(t *testing.T) {
	spec := webService()
	res := map[int]map[string]bool{0: {"dir1": true}, 1: {"dir1": true}, 2: {"dir1": true}}
	first, _ := PlanServices(ServicesInput{Specs: []model.VirtualService{spec}, Probes: probes(spec, res), Now: time.Unix(900, 0)})
	again, events := PlanServices(ServicesInput{Specs: []model.VirtualService{spec}, Probes: probes(spec, res), Prev: first, Now: time.Unix(1000, 0)})
	if len(events) != 0 {
		t.Errorf("an unchanged state produced events: %v", events)
	}
	for _, r := range again["web"].Real {
		if !r.Since.Equal(time.Unix(900, 0)) {
			t.Errorf("%s: since %v, want the time it became healthy", r.Address, r.Since)
		}
	}
}

// A real server whose probes restart (a changed check starts unknown) or
// fall silent keeps its last decision instead of leaving the table.
func TestPlanServicesKeepsDecisionWhileUnknown(t *testing.T) {
	spec := webService()
	prev := allUp(spec)
	out, events := PlanServices(ServicesInput{Specs: []model.VirtualService{spec}, Probes: nil, Prev: prev, Now: time.Unix(930, 0)})
	if len(events) != 0 {
		t.Errorf("events: %v", events)
	}
	for _, r := range out["web"].Real {
		if !r.Healthy || r.Applied != r.Weight || r.Reason != "up by dir1 (kept: no current probe result)" {
			t.Errorf("%s: healthy %v applied %d reason %q, want kept up", r.Address, r.Healthy, r.Applied, r.Reason)
		}
	}
}

// A kept decision expires: with no probe result for KeepFor the server is
// not shown as healthy any more.
func TestPlanServicesKeptDecisionExpires(t *testing.T) {
	spec := webService()
	prev := allUp(spec) // evidence at 900 s
	out, _ := PlanServices(ServicesInput{Specs: []model.VirtualService{spec}, Prev: prev, Now: time.Unix(900, 0).Add(KeepFor / 2)})
	if r := out["web"].Real[0]; !r.Healthy {
		t.Errorf("within KeepFor: %+v, want kept healthy", r)
	}
	out, _ = PlanServices(ServicesInput{Specs: []model.VirtualService{spec}, Prev: out, Now: time.Unix(900, 0).Add(KeepFor + time.Second)})
	if r := out["web"].Real[0]; r.Healthy || r.Known || r.Applied != -1 || r.Reason != "not probed yet" {
		t.Errorf("past KeepFor: healthy %v known %v applied %d reason %q, want not probed, out of the table", r.Healthy, r.Known, r.Applied, r.Reason)
	}
}

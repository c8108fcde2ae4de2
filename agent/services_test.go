package agent

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/droverha/drover/agent/ipvs"
	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

// realServer is an HTTP server on loopback that a test can stop and start
// again on the same port.
type realServer struct {
	t    testing.TB
	addr netip.AddrPort
	mu   sync.Mutex
	srv  *http.Server
}

func newRealServer(t testing.TB) *realServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &realServer{t: t, addr: netip.MustParseAddrPort(ln.Addr().String())}
	rs.serve(ln)
	t.Cleanup(rs.stop)
	return rs
}

func (rs *realServer) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })}
	rs.mu.Lock()
	rs.srv = srv
	rs.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (rs *realServer) stop() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.srv != nil {
		_ = rs.srv.Close()
		rs.srv = nil
	}
}

func (rs *realServer) start() {
	ln, err := net.Listen("tcp", rs.addr.String())
	if err != nil {
		rs.t.Fatalf("restarting %s: %v", rs.addr, err)
	}
	rs.serve(ln)
}

// kernelDests is what the fake kernel table holds for the one service:
// real server → weight.
func kernelDests(f *ipvs.Fake) map[string]int {
	out := map[string]int{}
	for _, vs := range f.Table() {
		for _, d := range vs.Destinations {
			out[netip.AddrPortFrom(d.Address, d.Port).String()] = d.Weight
		}
	}
	return out
}

func sameWeights(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// One node directs: it probes real HTTP servers, plans the table as the
// manager and programs it. A real server that stops leaves the table with
// its reason in the view; when all are gone the sorry server serves; a
// restarted one comes back.
func TestServicesFollowHealth(t *testing.T) {
	rs := []*realServer{newRealServer(t), newRealServer(t), newRealServer(t)}
	sorry := netip.MustParseAddrPort("198.51.100.99:80")
	check := model.Check{Kind: "http", Method: "GET", Path: "/health", Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 2, Fall: 2}
	svc := model.VirtualService{
		Name: "web", Protocol: "tcp", Address: netip.MustParseAddrPort("192.0.2.10:80"), Scheduler: "wrr",
		OnFailure: model.OnFailureRemove, Check: check, Sorry: &model.RealServer{Address: sorry, Weight: 1, Forward: "nat"},
	}
	for i, r := range rs {
		svc.RealServers = append(svc.RealServers, model.RealServer{Address: r.addr, Weight: i + 1, Forward: "nat"})
	}
	fake := ipvs.NewFake()
	cfg := testConfig(t, "dir1")
	cfg.Services, cfg.Director, cfg.IPVS = []model.VirtualService{svc}, true, fake
	a := startAgent(t, cfg)

	all := map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 2, rs[2].addr.String(): 3}
	waitFor(t, 15*time.Second, "all three real servers in the kernel table at their weights", func() bool {
		return sameWeights(kernelDests(fake), all)
	})
	tbl := fake.Table()
	if len(tbl) != 1 || tbl[0].Scheduler != "wrr" || tbl[0].Protocol != ipvs.ProtocolTCP || tbl[0].Port != 80 {
		t.Fatalf("kernel service = %+v, want TCP 192.0.2.10:80 wrr", tbl)
	}

	rs[1].stop()
	without := map[string]int{rs[0].addr.String(): 1, rs[2].addr.String(): 3}
	waitFor(t, 5*time.Second, "the stopped real server out of the table", func() bool {
		return sameWeights(kernelDests(fake), without)
	})
	v := a.View()
	if len(v.Services) != 1 {
		t.Fatalf("view services = %+v", v.Services)
	}
	for _, r := range v.Services[0].RealServers {
		if r.Address == rs[1].addr.String() && (r.Healthy || r.Applied != -1 || r.Reason == "") {
			t.Errorf("view of the stopped server: %+v, want down, out of the table, with a reason", r)
		}
	}

	rs[0].stop()
	rs[2].stop()
	waitFor(t, 5*time.Second, "only the sorry server in the table", func() bool {
		return sameWeights(kernelDests(fake), map[string]int{sorry.String(): 1})
	})
	if v := a.View(); !v.Services[0].SorryActive || v.Services[0].Quorum.Have {
		t.Errorf("view: sorry_active %v quorum %+v, want the sorry server active and no quorum", v.Services[0].SorryActive, v.Services[0].Quorum)
	}

	rs[1].start()
	waitFor(t, 5*time.Second, "the restarted real server back, the sorry server gone", func() bool {
		return sameWeights(kernelDests(fake), map[string]int{rs[1].addr.String(): 2})
	})

	var types []string
	waitFor(t, 5*time.Second, "the events", func() bool {
		types = eventTypes(readAllEvents(t, a.ClientURL(), "test", 0))
		return slices.Contains(types, bus.EventQuorumRegainedSvc)
	})
	for _, want := range []string{bus.EventRealServerUp, bus.EventRealServerDown, bus.EventQuorumLostService, bus.EventQuorumRegainedSvc} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s event in %v", want, types)
		}
	}
}

// A service someone made by hand is never touched, and a restarted agent
// with no manager yet leaves the kernel's table as it is.
func TestServicesLeaveForeignServicesAlone(t *testing.T) {
	fake := ipvs.NewFake()
	foreign := ipvs.Service{ServiceKey: ipvs.ServiceKey{Family: 2, Protocol: ipvs.ProtocolTCP, Address: netip.MustParseAddr("203.0.113.5"), Port: 443}, Scheduler: "rr", Netmask: 32}
	if err := fake.CreateService(foreign); err != nil {
		t.Fatal(err)
	}
	rs := newRealServer(t)
	svc := model.VirtualService{
		Name: "web", Protocol: "tcp", Address: netip.MustParseAddrPort("192.0.2.10:80"), Scheduler: "rr", OnFailure: model.OnFailureRemove,
		Check:       model.Check{Kind: "tcp", Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 1, Fall: 1},
		RealServers: []model.RealServer{{Address: rs.addr, Weight: 1, Forward: "dr"}},
	}
	cfg := testConfig(t, "dir1")
	cfg.Services, cfg.Director, cfg.IPVS = []model.VirtualService{svc}, true, fake
	startAgent(t, cfg)
	waitFor(t, 15*time.Second, "our service programmed", func() bool { return len(fake.Table()) == 2 })
	time.Sleep(300 * time.Millisecond) // a few more rounds
	found := false
	for _, vs := range fake.Table() {
		if vs.ServiceKey == foreign.ServiceKey {
			found = true
		}
	}
	if !found {
		t.Errorf("the hand-made service %v was removed: %+v", foreign.ServiceKey, fake.Table())
	}
}

// Three nodes: two directors and the agent of one real server. Both
// directors program the same table whichever node manages; the manager's
// death changes nothing in the tables, and the next manager goes on
// deciding from the same probes.
func TestServicesAcrossManagerChange(t *testing.T) {
	rs := []*realServer{newRealServer(t), newRealServer(t), newRealServer(t)}
	check := model.Check{Kind: "http", Method: "GET", Path: "/", Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 2, Fall: 2}
	svc := model.VirtualService{Name: "web", Protocol: "tcp", Address: netip.MustParseAddrPort("192.0.2.10:80"), Scheduler: "rr",
		OnFailure: model.OnFailureQuiescent, Check: check}
	for i, r := range rs {
		svc.RealServers = append(svc.RealServers, model.RealServer{Address: r.addr, Weight: 1, Forward: "dr", Node: fmt.Sprintf("n%d", i+1)})
	}
	fakes := []*ipvs.Fake{ipvs.NewFake(), ipvs.NewFake()}
	c := newTestClusterWith(t, 3, func(i int, cfg *Config) {
		cfg.Services = []model.VirtualService{svc}
		if i < 2 {
			cfg.Director, cfg.IPVS = true, fakes[i]
		}
	})
	all := map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1, rs[2].addr.String(): 1}
	for i, f := range fakes {
		waitFor(t, 20*time.Second, fmt.Sprintf("director n%d's table", i+1), func() bool { return sameWeights(kernelDests(f), all) })
	}
	var mgr string
	waitFor(t, 10*time.Second, "one manager", func() bool {
		l := c.leaders()
		if len(l) == 1 {
			mgr = l[0]
		}
		return len(l) == 1
	})
	victim := c.index(mgr)
	c.kill(victim)
	survivors := []int{}
	for i := range fakes {
		if i != victim {
			survivors = append(survivors, i)
		}
	}
	// Quiescent: a stopped server stays at weight 0.
	rs[2].stop()
	want := map[string]int{rs[0].addr.String(): 1, rs[1].addr.String(): 1, rs[2].addr.String(): 0}
	for _, i := range survivors {
		waitFor(t, 20*time.Second, fmt.Sprintf("director n%d to quiesce the stopped server under the new manager", i+1), func() bool {
			return sameWeights(kernelDests(fakes[i]), want)
		})
	}
}

// A service this director programmed before it was restarted, and that the
// configuration no longer has, is removed once a whole table has arrived;
// one it never programmed stays.
func TestServicesRemoveWhatWasOwnedBeforeARestart(t *testing.T) {
	fake := ipvs.NewFake()
	key := func(addr string) ipvs.ServiceKey {
		return ipvs.ServiceKey{Family: 2, Protocol: ipvs.ProtocolTCP, Address: netip.MustParseAddr(addr), Port: 80}
	}
	old, foreign := key("192.0.2.20"), key("192.0.2.30")
	for _, k := range []ipvs.ServiceKey{old, foreign} {
		if err := fake.CreateService(ipvs.Service{ServiceKey: k, Scheduler: "rr", Netmask: 32}); err != nil {
			t.Fatal(err)
		}
	}
	rs := newRealServer(t)
	svc := model.VirtualService{
		Name: "web", Protocol: "tcp", Address: netip.MustParseAddrPort("192.0.2.10:80"), Scheduler: "rr", OnFailure: model.OnFailureRemove,
		Check:       model.Check{Kind: "tcp", Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 1, Fall: 1},
		RealServers: []model.RealServer{{Address: rs.addr, Weight: 1, Forward: "dr"}},
	}
	cfg := testConfig(t, "dir1")
	cfg.Services, cfg.Director, cfg.IPVS = []model.VirtualService{svc}, true, fake
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "ipvs-owned.json"), []byte(`["`+old.String()+`"]`), 0o644); err != nil {
		t.Fatal(err)
	}
	startAgent(t, cfg)
	has := func(k ipvs.ServiceKey) bool {
		for _, vs := range fake.Table() {
			if vs.ServiceKey == k {
				return true
			}
		}
		return false
	}
	waitFor(t, 15*time.Second, "the service the configuration dropped to be removed", func() bool {
		return !has(old) && has(key("192.0.2.10"))
	})
	if !has(foreign) {
		t.Errorf("the service nobody told this director about was removed")
	}
}

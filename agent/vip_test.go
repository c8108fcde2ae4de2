package agent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/droverha/drover/agent/vip"
	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/bus/bustest"
	"github.com/droverha/drover/model"
)

// vipCluster is two directors (n1 priority 200, n2 priority 100) and a
// witness (n3) sharing group "web", each director a fake host whose state
// outlives its agent, with direct UDP heartbeats through cuttable links.
type vipCluster struct {
	*testCluster
	hosts []*vip.Fake
	udp   [][]*bustest.UDPLink // udp[i][j]: i's heartbeats to j
	twice atomic.Int64         // samples with two hosts answering for web
	first atomic.Int64         // when the first such sample was taken (UnixNano)
	stop  chan struct{}
	wg    sync.WaitGroup
}

func freeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func newVIPCluster(t *testing.T) *vipCluster {
	t.Helper()
	vc := &vipCluster{hosts: []*vip.Fake{vip.NewFake(), vip.NewFake(), vip.NewFake()}, stop: make(chan struct{})}
	listen := []string{freeUDP(t), freeUDP(t)}
	vc.udp = [][]*bustest.UDPLink{make([]*bustest.UDPLink, 2), make([]*bustest.UDPLink, 2)}
	for i := range 2 {
		for j := range 2 {
			if i == j {
				continue
			}
			l, err := bustest.NewUDPLink(listen[j])
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(l.Close)
			vc.udp[i][j] = l
		}
	}
	web := VIPGroup{
		VIPGroup: model.VIPGroup{Name: "web", Interface: "eth0", Preempt: true,
			Addresses:  []netip.Prefix{netip.MustParsePrefix("192.0.2.50/24")},
			Candidates: []model.Candidate{{Node: "n1", Priority: 200}, {Node: "n2", Priority: 100}}},
		GARP: vip.GARP{Count: 1, Mode: vip.ModeBoth},
	}
	vc.testCluster = newTestClusterWith(t, 3, func(i int, cfg *Config) {
		cfg.VIP.Groups = []VIPGroup{web}
		cfg.VIP.Client = vc.hosts[i]
		cfg.VIP.SelfFenceAfter = 400 * time.Millisecond
		cfg.VIP.RestartGrace = 3 * time.Second
		cfg.DeadAfter = 800 * time.Millisecond
		if i < 2 {
			cfg.VIP.UDPListen = listen[i]
			cfg.VIP.UDPPeers = map[string]string{fmt.Sprintf("n%d", 2-i): vc.udp[i][1-i].Addr()}
		}
	})
	// The sampler plays the observer on the LAN: never two hosts answering.
	vc.wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-vc.stop:
				return
			case <-t.C:
			}
			if vc.hosts[0].Answering("web") && vc.hosts[1].Answering("web") {
				vc.twice.Add(1)
				vc.first.CompareAndSwap(0, time.Now().UnixNano())
			}
		}
	})
	t.Cleanup(func() { close(vc.stop); vc.wg.Wait() })
	return vc
}

// crash kills node i's agent without a goodbye; its guard drops the
// addresses, as the real vip-guard does when its pipe closes.
func (vc *vipCluster) crash(i int) {
	vc.kill(i)
	for _, g := range vc.cfgs[i].VIP.Groups {
		_ = vc.hosts[i].Release(context.Background(), g.Driver())
	}
}

func (vc *vipCluster) waitHolder(d time.Duration, want string) time.Duration {
	vc.t.Helper()
	start := time.Now()
	waitFor(vc.t, d, "web answered by "+want+" alone", func() bool {
		for i, h := range vc.hosts[:2] {
			if h.Answering("web") != (fmt.Sprintf("n%d", i+1) == want) {
				return false
			}
		}
		return true
	})
	return time.Since(start)
}

func firstCall(calls []vip.Call, op string, after time.Time) time.Time {
	for _, c := range calls {
		if c.Op == op && c.At.After(after) {
			return c.At
		}
	}
	return time.Time{}
}

func TestVIPFailoverHandoverFencing(t *testing.T) {
	vc := newVIPCluster(t)
	mgr, _ := vc.waitAgreed(60*time.Second, all(3))
	if mgr != "n3" {
		// The witness owns no VIPs, so it should end up manager.
		waitFor(t, 10*time.Second, "the witness to be manager", func() bool {
			m, _, ok := vc.agreed(all(3))
			return ok && m == "n3"
		})
	}
	vc.waitHolder(10*time.Second, "n1")

	// A crash of the owner fails over within about dead_after.
	vc.crash(0)
	took := vc.waitHolder(5*time.Second, "n2")
	t.Logf("failover after the owner's crash: %v", took.Round(time.Millisecond))

	// The owner returns: preemption moves it back gracefully, the old owner
	// yielding before the new one answers, releasing only after.
	before := time.Now()
	vc.start(0)
	vc.waitHolder(20*time.Second, "n1")
	waitFor(t, 5*time.Second, "n2 to release after the handover", func() bool {
		return !firstCall(vc.hosts[1].Calls(), "release", before).IsZero()
	})
	n2 := vc.hosts[1].Calls()
	yield, rel := firstCall(n2, "yield", before), firstCall(n2, "release", before)
	acq := firstCall(vc.hosts[0].Calls(), "acquire", before)
	if yield.IsZero() || rel.IsZero() || !yield.Before(acq) || !acq.Before(rel) {
		t.Errorf("graceful handover order: n2 yield %v, n1 acquire %v, n2 release %v", yield, acq, rel)
	}

	// Bus-isolated, but heard over UDP: n1 keeps web, n2 does not take it.
	vc.isolate(0)
	waitFor(t, 10*time.Second, "n1 to lose the bus majority", func() bool { return !vc.agents[0].View().Quorum.Have })
	time.Sleep(2 * time.Second)
	if !vc.hosts[0].Answering("web") || vc.hosts[1].Answering("web") {
		t.Fatalf("bus-isolated owner lost web: n1 %v n2 %v", vc.hosts[0].Answering("web"), vc.hosts[1].Answering("web"))
	}
	v := vc.agents[2].View()
	for _, n := range v.Nodes {
		if n.Name == "n1" && !n.BusIsolated {
			t.Errorf("witness sees n1 as %+v, want bus-isolated", n)
		}
	}

	// Both paths gone: n1 fences itself before n2 takes over.
	cut := time.Now()
	vc.udp[0][1].Cut()
	vc.udp[1][0].Cut()
	vc.waitHolder(10*time.Second, "n2")
	fenced := firstCall(vc.hosts[0].Calls(), "release", cut)
	taken := firstCall(vc.hosts[1].Calls(), "acquire", cut)
	if fenced.IsZero() || taken.IsZero() || !fenced.Before(taken) {
		t.Errorf("self-fence at %v, takeover at %v: want the fence first", fenced, taken)
	}
	t.Logf("fully cut off: n1 fenced after %v, n2 took over after %v", fenced.Sub(cut).Round(time.Millisecond), taken.Sub(cut).Round(time.Millisecond))

	// Heal: n1 preempts back.
	vc.udp[0][1].Heal()
	vc.udp[1][0].Heal()
	vc.heal()
	vc.waitHolder(30*time.Second, "n1")

	// Hitless restart: n1's agent stops gracefully and starts again within
	// the restart grace; web never leaves n1.
	vc.waitHolder(10*time.Second, "n1")
	time.Sleep(500 * time.Millisecond)
	before = time.Now()
	var gaps atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if !vc.hosts[0].Answering("web") {
				gaps.Add(1)
			}
		}
	}()
	vc.agents[0].stop(t)
	vc.start(0)
	vc.waitAgreed(30*time.Second, all(3))
	time.Sleep(time.Second)
	close(stopSampling)
	<-sampled
	if g := gaps.Load(); g != 0 || !firstCall(vc.hosts[1].Calls(), "acquire", before).IsZero() {
		t.Errorf("restart of the owner's agent: web not answered by n1 in %d samples; n2 acquired: %v", g,
			!firstCall(vc.hosts[1].Calls(), "acquire", before).IsZero())
	}

	// Drain n1: web moves to n2; undrain: back to n1.
	js := busJS(t, vc.agents[2])
	putDrain(t, js, "n1", true)
	vc.waitHolder(10*time.Second, "n2")
	putDrain(t, js, "n1", false)
	vc.waitHolder(10*time.Second, "n1")

	if n := vc.twice.Load(); n != 0 {
		at := time.Unix(0, vc.first.Load())
		t.Errorf("two hosts answered for web in %d samples, the first at %s; calls within 3 s before:\n%s",
			n, at.Format("15:04:05.000"), vc.callsBefore(at, 3*time.Second))
	}
}

// callsBefore lists the directors' VIP calls in the span before at.
func (vc *vipCluster) callsBefore(at time.Time, span time.Duration) string {
	var b strings.Builder
	for i, h := range vc.hosts[:2] {
		for _, c := range h.Calls() {
			if !c.At.Before(at.Add(-span)) && !c.At.After(at.Add(100*time.Millisecond)) {
				fmt.Fprintf(&b, "  n%d %s %s %s\n", i+1, c.At.Format("15:04:05.000"), c.Op, c.Group)
			}
		}
	}
	return b.String()
}

// busJS is a JetStream handle on agent r's bus, as the drover CLI has.
func busJS(t *testing.T, r *running) jetstream.JetStream {
	t.Helper()
	nc, err := bus.Connect(bus.ClientConfig{URLs: []string{r.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// putDrain drains or undrains node the way `drover node drain` does: it
// keeps trying while the desired bucket's Raft group elects a leader (as
// it does after an agent's restart).
func putDrain(t *testing.T, js jetstream.JetStream, node string, on bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := bus.PutDesired(ctx, js, "test", "drain."+node, bus.Desired{Drained: on}); err != nil {
		t.Fatal(err)
	}
}

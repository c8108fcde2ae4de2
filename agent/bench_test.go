package agent

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/droverha/drover/agent/check"
	"github.com/droverha/drover/agent/ipvs"
	"github.com/droverha/drover/model"
)

// BenchmarkRealServerDeath measures, with the default check settings
// (HTTP every 500 ms, timeout 500 ms, fall 2) and the default heartbeat,
// how long a real server that stops answering stays in the director's
// IPVS table: from the moment its listener closes to the moment the
// director's reconcile has removed it. The kernel table is the recording
// fake; programming the real one adds well under a millisecond (see the
// IPVS benchmarks in the kernel lab).
func BenchmarkRealServerDeath(b *testing.B) {
	const deaths = 10
	var gaps []time.Duration
	for b.Loop() {
		gaps = gaps[:0]
		rs := []*realServer{newRealServer(b), newRealServer(b)}
		svc := model.VirtualService{
			Name: "web", Protocol: "tcp", Address: netip.MustParseAddrPort("192.0.2.10:80"), Scheduler: "rr",
			OnFailure: model.OnFailureRemove, Check: check.WithDefaults(model.Check{Kind: "http"}),
		}
		for _, r := range rs {
			svc.RealServers = append(svc.RealServers, model.RealServer{Address: r.addr, Weight: 1, Forward: "nat"})
		}
		fake := ipvs.NewFake()
		cfg := testConfig(b, "dir1")
		cfg.Services, cfg.Director, cfg.IPVS = []model.VirtualService{svc}, true, fake
		a := startAgent(b, cfg)
		victim := rs[1].addr.String()
		in := func() bool { _, ok := kernelDests(fake)[victim]; return ok }
		for range deaths {
			waitFor(b, 20*time.Second, "the real server in the table", in)
			// Die at a random phase of the probe interval.
			time.Sleep(time.Duration(time.Now().UnixNano() % int64(500*time.Millisecond)))
			start := time.Now()
			rs[1].stop()
			waitFor(b, 10*time.Second, "the dead real server out of the table", func() bool { return !in() })
			gaps = append(gaps, time.Since(start))
			rs[1].start()
		}
		a.stop(b)
	}
	slices.Sort(gaps)
	b.ReportMetric(float64(gaps[len(gaps)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(gaps[len(gaps)-1].Milliseconds()), "max-ms")
	b.Logf("real server death → out of the table, %d deaths: %v", len(gaps), gaps)
}

package lab

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// tunedProfile is the fast failover profile of docs/vip.md.
const tunedProfile = `  heartbeat: {interval: 20ms, suspect_after: 60ms, dead_after: 150ms}
  self_fence_after: 80ms
`

// BenchmarkVIPFailover measures the service gap a client sees, probing the
// VIP over UDP every 5 ms, over N events each of: SIGKILL of the owner's
// agent, the owner's link going down, and a graceful drain. Between events
// the owner returns (restart, link up, undrain) and takes the VIP back.
// DROVER_BENCH_PROFILE=tuned uses the tuned timers; DROVER_BENCH_EVENTS
// sets N (default 30). Run with `make bench-failover`.
func BenchmarkVIPFailover(b *testing.B) {
	if os.Geteuid() != 0 || buildErr != nil || droverBin == "" {
		b.Skip("needs root and the drover binary")
	}
	events := 30
	if n, err := strconv.Atoi(os.Getenv("DROVER_BENCH_EVENTS")); err == nil && n > 0 {
		events = n
	}
	profile, extra := "default", ""
	if os.Getenv("DROVER_BENCH_PROFILE") == "tuned" {
		profile, extra = "tuned", tunedProfile
	}
	l := upB(b, vipTopologyWith("tvb", extra))
	waitFormedB(b, l)
	waitOwnerB(b, l, "dir1")
	for _, h := range []string{"dir1", "dir2"} {
		echo(b, l, h)
	}
	web := probe(b, l, webVIP)
	defer web.close()
	arp := watchARP(b, l, webVIP)
	defer arp.close()
	results := map[string][]time.Duration{}
	lostDrain := 0
	b.ResetTimer()
	only := os.Getenv("DROVER_BENCH_ONLY") // crash, link or drain: one kind of event
	for i := 0; i < events; i++ {
		if only == "" || only == "crash" {
			crash(b, l, web, results)
		}
		if only == "" || only == "link" {
			linkDown(b, l, web, results)
		}
		if only == "" || only == "drain" {
			lostDrain += drain(b, l, web, results)
		}
	}
	b.StopTimer()
	fmt.Printf("VIP failover, %s timers, probes every 5 ms:\n", profile)
	for _, k := range []string{"SIGKILL of the owner's agent", "owner's link down", "graceful drain"} {
		if len(results[k]) > 0 {
			fmt.Printf("  %-30s %s\n", k, gaps(results[k]))
		}
	}
	fmt.Printf("  probes lost across all drains: %d; %s\n", lostDrain, arpRounds(arp))
	if profile == "tuned" {
		falseFailovers(l)
	}
}

func crash(b *testing.B, l *Lab, web *prober, results map[string][]time.Duration) {
	from := web.mark()
	must(b, l.Kill("dir1"))
	web.waitServed(b, from, "dir2", 10*time.Second)
	g, _, _ := web.gap(from)
	results["SIGKILL of the owner's agent"] = append(results["SIGKILL of the owner's agent"], g)
	must(b, l.Start("dir1"))
	waitOwnerB(b, l, "dir1")
}

func linkDown(b *testing.B, l *Lab, web *prober, results map[string][]time.Duration) {
	from := web.mark()
	must(b, l.LinkDown("dir1"))
	web.waitServed(b, from, "dir2", 10*time.Second)
	g, _, _ := web.gap(from)
	results["owner's link down"] = append(results["owner's link down"], g)
	must(b, l.LinkUp("dir1"))
	waitOwnerB(b, l, "dir1")
}

func drain(b *testing.B, l *Lab, web *prober, results map[string][]time.Duration) int {
	ctx := context.Background()
	from := web.mark()
	if out, err := l.Drover(ctx, "wit1", "node", "drain", "dir1"); err != nil {
		b.Fatalf("drain: %v\n%s", err, out)
	}
	web.waitServed(b, from, "dir2", 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	g, _, lost := web.gap(from)
	if lost > 0 {
		fmt.Printf("  a drain at %s lost %d probes (gap %v)\n", web.sentAt(from).Format("15:04:05.000"), lost, g.Round(time.Millisecond))
	}
	results["graceful drain"] = append(results["graceful drain"], g)
	if out, err := l.Drover(ctx, "wit1", "node", "undrain", "dir1"); err != nil {
		b.Fatalf("undrain: %v\n%s", err, out)
	}
	waitOwnerB(b, l, "dir1")
	time.Sleep(300 * time.Millisecond)
	return lost
}

// falseFailovers: both cores busy for 60 s, no events; count owner changes.
func falseFailovers(l *Lab) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for j := 0; j < 1e6; j++ {
					_ = j * j
				}
			}
		})
	}
	changes, last := 0, "dir1"
	end := time.Now().Add(60 * time.Second)
	for time.Now().Before(end) {
		if g := vipViewB(l, "web"); g != "" && g != last {
			changes++
			last = g
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	fmt.Printf("  tuned timers under full CPU load for 60 s: %d false ownership changes\n", changes)
}

func upB(b *testing.B, topo *Topology) *Lab {
	dir := b.TempDir() + "/" + topo.Name
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := Up(ctx, topo, Options{StateDir: dir, Binary: droverBin})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Down() })
	return l
}

func waitFormedB(b *testing.B, l *Lab) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if v, err := view(l, "wit1"); err == nil && formed(v, 3) == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Fatal("cluster did not form")
}

func vipViewB(l *Lab, group string) string {
	v, err := view(l, "wit1")
	if err != nil {
		return ""
	}
	for _, g := range v.VIPGroups {
		if g.Name == group && g.From == "" && len(g.HeldBy) == 1 && g.HeldBy[0] == g.Owner {
			return g.Owner
		}
	}
	return ""
}

func waitOwnerB(b *testing.B, l *Lab, host string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if vipViewB(l, "web") == host {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("web never came back to %s", host)
}

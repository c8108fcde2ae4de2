package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

// benchNode is one agent process of a benchmark cluster.
type benchNode struct {
	name, client, route, dir, cfg string
	cmd                           *exec.Cmd
	done                          chan struct{}
}

func (n *benchNode) start(b *testing.B) {
	b.Helper()
	n.cmd = exec.Command(droverBin, "agent", "--config", n.cfg)
	n.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if d := os.Getenv("DROVER_BENCH_LOGS"); d != "" {
		// Keep each agent's log for a look at what a slow trial waited for.
		f, err := os.OpenFile(filepath.Join(d, n.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			n.cmd.Stderr = f
			n.cmd.Args = append(n.cmd.Args, "--log-level", "debug")
		}
	}
	n.done = make(chan struct{})
	if err := n.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func(c *exec.Cmd, d chan struct{}) { _ = c.Wait(); close(d) }(n.cmd, n.done)
}

func (n *benchNode) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

func viewOf(nc *nats.Conn, cluster, node string) (model.View, error) {
	req, _ := bus.Encode(bus.StatusRequest{V: bus.Version})
	m, err := nc.Request(bus.Subjects{Cluster: cluster}.StatusOf(node), req, 500*time.Millisecond)
	if err != nil {
		return model.View{}, err
	}
	return bus.DecodeView(m.Data)
}

// BenchmarkReelection: three agent processes on loopback with the default
// timings; SIGKILL the manager's agent and time until both survivors name
// the same new manager, then restart the killed one and wait for the
// cluster to be whole again. 20 trials.
func BenchmarkReelection(b *testing.B) {
	trials := 20
	if n, err := strconv.Atoi(os.Getenv("DROVER_BENCH_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	dir := b.TempDir()
	nodes := make([]*benchNode, 3)
	for i := range nodes {
		nodes[i] = &benchNode{name: fmt.Sprintf("n%d", i+1), client: freePortB(b), route: freePortB(b),
			dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
	}
	for _, n := range nodes {
		var peers strings.Builder
		for _, p := range nodes {
			fmt.Fprintf(&peers, "      - {name: %s, route: %s}\n", p.name, p.route)
		}
		n.cfg = filepath.Join(dir, n.name+".yaml")
		cfg := fmt.Sprintf("node: %s\ncluster: bench\ndata_dir: %s\nlog:\n  level: warn\nbus:\n  listen: %s\n  cluster:\n    listen: %s\n    peers:\n%s",
			n.name, n.dir, n.client, n.route, peers.String())
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o644); err != nil {
			b.Fatal(err)
		}
		n.start(b)
	}
	defer func() {
		for _, n := range nodes {
			n.kill()
		}
	}()
	conns := make([]*nats.Conn, 3)
	// agree returns the manager when every node in idx names it with quorum
	// and sees all of idx alive.
	agree := func(idx []int) string {
		m := ""
		for _, i := range idx {
			if conns[i] == nil || !conns[i].IsConnected() {
				nc, err := nats.Connect("nats://"+nodes[i].client, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
				if err != nil {
					return ""
				}
				conns[i] = nc
			}
			v, err := viewOf(conns[i], "bench", nodes[i].name)
			if err != nil || !v.Quorum.Have || v.Manager == "" || (m != "" && v.Manager != m) {
				return ""
			}
			for _, j := range idx {
				if nodeStateB(v, nodes[j].name) != model.NodeAlive {
					return ""
				}
			}
			m = v.Manager
		}
		return m
	}
	waitAgree := func(idx []int, not string, limit time.Duration) (string, time.Duration) {
		start := time.Now()
		for time.Since(start) < limit {
			if m := agree(idx); m != "" && m != not {
				return m, time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.Fatalf("no agreement among %v within %v", idx, limit)
		return "", 0
	}
	const settle = 3 * time.Second
	_, formed := waitAgree([]int{0, 1, 2}, "", 2*time.Minute)
	time.Sleep(settle)
	mgr, _ := waitAgree([]int{0, 1, 2}, "", time.Minute)
	fmt.Printf("re-election: cluster formed in %v, manager %s\n", formed.Round(time.Millisecond), mgr)
	var (
		all, leaderHit, leaderMiss []time.Duration
	)
	b.ResetTimer()
	for trial := range trials {
		mi := int(mgr[1] - '1')
		// Was the killed node the Raft leader of the lease's stream?
		wasStreamLeader := streamLeader(conns[(mi+1)%3], "KV_drover_bench_election") == mgr
		nodes[mi].kill()
		conns[mi] = nil
		rest := []int{(mi + 1) % 3, (mi + 2) % 3}
		newMgr, took := waitAgree(rest, mgr, time.Minute)
		all = append(all, took)
		if wasStreamLeader {
			leaderHit = append(leaderHit, took)
		} else {
			leaderMiss = append(leaderMiss, took)
		}
		fmt.Printf("  trial %2d: killed %s (lease stream leader: %v), %s manager after %v\n", trial+1, mgr, wasStreamLeader, newMgr, took.Round(time.Millisecond))
		nodes[mi].start(b)
		waitAgree([]int{0, 1, 2}, "", 2*time.Minute)
		// A manager is normally in office for a while before it dies; give
		// it the few seconds it takes to settle (see docs/benchmarks.md).
		time.Sleep(settle)
		mgr, _ = waitAgree([]int{0, 1, 2}, "", time.Minute)
	}
	b.StopTimer()
	p50, p99 := percentileD(all, 0.5), percentileD(all, 0.99)
	b.ReportMetric(p50.Seconds(), "p50-s")
	b.ReportMetric(p99.Seconds(), "p99-s")
	fmt.Printf("re-election after SIGKILL of the manager (3 processes, defaults): p50 %v p99 %v max %v over %d trials\n",
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), percentileD(all, 1).Round(time.Millisecond), len(all))
	if len(leaderHit) > 0 {
		fmt.Printf("  killed node led the lease stream's Raft group: %d trials, p50 %v max %v\n", len(leaderHit),
			percentileD(leaderHit, 0.5).Round(time.Millisecond), percentileD(leaderHit, 1).Round(time.Millisecond))
	}
	if len(leaderMiss) > 0 {
		fmt.Printf("  it did not: %d trials, p50 %v max %v\n", len(leaderMiss),
			percentileD(leaderMiss, 0.5).Round(time.Millisecond), percentileD(leaderMiss, 1).Round(time.Millisecond))
	}
}

func streamLeader(nc *nats.Conn, stream string) string {
	if nc == nil {
		return ""
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return ""
	}
	info := s.CachedInfo()
	if info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// BenchmarkIdleAgent: one agent with the default configuration, idle; its
// resident memory and CPU use over 20 s after a 5 s warm-up.
func BenchmarkIdleAgent(b *testing.B) {
	dir := b.TempDir()
	cmd := exec.Command(droverBin, "agent", "--data-dir", dir, "--bus-listen", freePortB(b), "--log-level", "warn")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(5 * time.Second)
	b.ResetTimer()
	cpu0 := cpuTicks(b, cmd.Process.Pid)
	const window = 20 * time.Second
	time.Sleep(window)
	cpu1 := cpuTicks(b, cmd.Process.Pid)
	rss := rssKiB(b, cmd.Process.Pid)
	// USER_HZ is 100 on Linux.
	pct := float64(cpu1-cpu0) / 100 / window.Seconds() * 100
	b.ReportMetric(float64(rss)/1024, "RSS-MiB")
	b.ReportMetric(pct, "CPU-%")
	fmt.Printf("idle agent (single node, defaults): RSS %.1f MiB, CPU %.2f%% of one core over %v\n", float64(rss)/1024, pct, window)
}

func cpuTicks(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

func rssKiB(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}

func freePortB(b *testing.B) string { return freePort(b) }

func percentileD(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[nearestRank(len(s), p)]
}

func nodeStateB(v model.View, name string) model.NodeState {
	for _, n := range v.Nodes {
		if n.Name == name {
			return n.State
		}
	}
	return model.NodeUnknown
}

// nearestRank is the index of the p-th percentile of n sorted samples by
// the nearest-rank method: with 20 samples, p99 is the largest.
func nearestRank(n int, p float64) int {
	r := int(math.Ceil(p*float64(n))) - 1
	return min(max(r, 0), n-1)
}

package lab

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/droverha/drover/internal/golden"
	"github.com/droverha/drover/model"
)

// ipvsLab skips a test that needs root, iproute2, ipvsadm and a kernel
// with ip_vs, or fails it when the caller says they are there
// (DROVER_IPVS_TESTS=1, as the kernel lab sets) or demands privileged
// tests (DROVER_PRIVILEGED_TESTS=1) and there is no root. Without ip_vs
// the test can run in the kernel lab: make test-kernel.
func ipvsLab(t *testing.T) {
	t.Helper()
	must := os.Getenv("DROVER_IPVS_TESTS") == "1"
	privileged(t)
	if _, err := exec.LookPath("ipvsadm"); err != nil {
		if must {
			t.Fatal("IPVS test cannot run: no ipvsadm (DROVER_IPVS_TESTS=1)")
		}
		t.Skip("needs ipvsadm")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		_ = exec.Command("modprobe", "ip_vs").Run()
		if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
			if must {
				t.Fatal("IPVS test cannot run: the kernel has no ip_vs (DROVER_IPVS_TESTS=1)")
			}
			t.Skip("the kernel has no ip_vs: run it in the kernel lab (make test-kernel)")
		}
	}
}

// labBinary is the drover binary the agents and real servers run:
// $DROVER_BINARY when set (the kernel lab ships one, since its VM cannot
// build), else the one TestMain built.
func labBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("DROVER_BINARY"); b != "" {
		return b
	}
	if buildErr != nil || droverBin == "" {
		t.Fatalf("no drover binary: set DROVER_BINARY or run where go can build it (%v)", buildErr)
	}
	return droverBin
}

// dumpOnFailure logs the tails of the agents' logs and the directors'
// IPVS tables when the test fails: in the kernel lab nothing else
// survives the VM.
func dumpOnFailure(t *testing.T, l *Lab, directors ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, h := range l.Topology().AgentHosts() {
			b, _ := os.ReadFile(l.LogPath(h.Name))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 80 {
				lines = lines[len(lines)-80:]
			}
			t.Logf("--- last lines of %s's agent log:\n%s", h.Name, strings.Join(lines, "\n"))
		}
		for _, d := range directors {
			out, err := l.Exec(context.Background(), d, "ipvsadm", "-Ln", "--stats")
			t.Logf("--- ipvsadm -Ln --stats on %s (%v):\n%s", d, err, out)
		}
	})
}

// ipvsTable is `ipvsadm -Sn` in host's namespace, with the services in
// order and each one's real servers in order: the kernel lists them in
// hash order.
func ipvsTable(ctx context.Context, l *Lab, host string) (string, error) {
	out, err := l.Exec(ctx, host, "ipvsadm", "-Sn")
	if err != nil {
		return "", err
	}
	return normalizeIPVS(string(out)), nil
}

func normalizeIPVS(s string) string {
	var blocks [][]string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		switch {
		case strings.HasPrefix(line, "-A "):
			blocks = append(blocks, []string{line})
		case strings.HasPrefix(line, "-a ") && len(blocks) > 0:
			blocks[len(blocks)-1] = append(blocks[len(blocks)-1], line)
		}
	}
	for _, b := range blocks {
		sort.Strings(b[1:])
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i][0] < blocks[j][0] })
	var out strings.Builder
	for _, b := range blocks {
		for _, line := range b {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// realServersIn returns the real servers (addr:port) of the service whose
// -A line starts with key ("-t 192.0.2.50:80") in a normalized table.
func realServersIn(table, key string) []string {
	var out []string
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && f[0] == "-a" && f[1]+" "+f[2] == key {
			out = append(out, f[4])
		}
	}
	return out
}

// waitTable polls host's IPVS table until ok accepts it.
func waitTable(t *testing.T, l *Lab, host string, d time.Duration, what string, ok func(table string) bool) string {
	t.Helper()
	deadline := time.Now().Add(d)
	start := time.Now()
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		tbl, err := ipvsTable(ctx, l, host)
		cancel()
		if err == nil {
			last = tbl
			if ok(tbl) {
				t.Logf("%s after %v", what, time.Since(start).Round(10*time.Millisecond))
				return tbl
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; IPVS table of %s:\n%s", what, d, host, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// services asks host's agent for `drover services -o json`.
func services(t *testing.T, l *Lab, host string) []model.ServiceView {
	t.Helper()
	var err error
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var out []byte
		out, err = l.Drover(ctx, host, "services", "-o", "json", "--timeout", "3s")
		cancel()
		if err == nil {
			var v []model.ServiceView
			if err = json.Unmarshal(out, &v); err == nil {
				return v
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("drover services on %s: %v", host, err)
	return nil
}

func findService(t *testing.T, vs []model.ServiceView, name string) model.ServiceView {
	t.Helper()
	for _, v := range vs {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no service %s in drover services", name)
	return model.ServiceView{}
}

// ask sends n requests from c, each on a fresh connection, and counts the
// answers by server name; a failed request fails the test.
func ask(t *testing.T, c *HTTPClient, addr netip.AddrPort, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		name, err := c.Get(ctx, addr)
		cancel()
		if err != nil {
			t.Fatalf("request %d of %d to %s: %v (answers so far: %v)", i+1, n, addr, err, got)
		}
		got[name]++
	}
	return got
}

// askScheduled is ask for n requests to vip, followed by checks on the
// director (dir1). It compares IPVS's scheduling counts (the Conns of
// `ipvsadm --stats`) before and after: every request must have been
// scheduled (none rode on an old connection entry), and the schedulings
// per real server must follow want within ±slack. It returns the answers
// and the slack they need: slack plus the connections IPVS scheduled
// beyond one per request. That happened once, in CI in the VM: 303
// schedulings for 300 requests, rs3 scheduled 151 times and answering
// 148; why is not established (no request failed or was retried by the
// client).
func askScheduled(t *testing.T, l *Lab, c *HTTPClient, vip string, n int, want map[string]int, slack int) (map[string]int, int) {
	t.Helper()
	before := vsConns(t, l, "dir1", vip)
	got := ask(t, c, vipPort(vip), n)
	after := vsConns(t, l, "dir1", vip)
	sched := map[string]int{}
	total := 0
	for name, k := range after {
		sched[name] = k - before[name]
		total += sched[name]
	}
	extra := total - n
	switch {
	case extra < 0:
		t.Errorf("%s: IPVS scheduled %d connections for %d requests: some skipped the scheduler", vip, total, n)
	case extra > 0:
		t.Logf("%s: IPVS scheduled %d connections for %d requests", vip, total, n)
	}
	spread(t, vip+": IPVS schedulings", sched, want, slack+max(extra, 0))
	return got, slack + max(extra, 0)
}

// vsConns is the Conns column of `ipvsadm -Ln --stats` for each real
// server of the TCP virtual service vip on host, by host name. The kernel
// folds its per-CPU counters into these totals on its rate estimator's 2 s
// tick, so it waits one tick first.
func vsConns(t *testing.T, l *Lab, host, vip string) map[string]int {
	t.Helper()
	time.Sleep(2500 * time.Millisecond)
	out, err := l.Exec(context.Background(), host, "ipvsadm", "-Ln", "--stats", "--exact", "-t", vip)
	if err != nil {
		t.Fatalf("ipvsadm on %s: %v\n%s", host, err, out)
	}
	names := map[string]string{}
	for _, h := range l.Topology().Hosts {
		names[h.Addr.String()] = h.Name
	}
	conns := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "->" {
			continue
		}
		ap, err := netip.ParseAddrPort(f[1])
		if err != nil {
			continue // the header line
		}
		name, ok := names[ap.Addr().String()]
		if !ok {
			name = f[1]
		}
		if conns[name], err = strconv.Atoi(f[2]); err != nil {
			t.Fatalf("ipvsadm on %s: Conns %q: %v", host, f[2], err)
		}
	}
	return conns
}

// spread checks each server's count of answers against want, ±slack.
func spread(t *testing.T, what string, got, want map[string]int, slack int) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	for k := range keys {
		if d := got[k] - want[k]; d < -slack || d > slack {
			t.Errorf("%s: answers by server %v, want %v ±%d", what, got, want, slack)
			return
		}
	}
	t.Logf("%s: answers by server %v", what, got)
}

// goldenFile compares got with testdata/name, rewritten with -update.
func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	golden.Compare(t, *update, filepath.Join("testdata", name), []byte(got))
}

func vipPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func counts(kv ...any) map[string]int {
	m := map[string]int{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(int)
	}
	return m
}

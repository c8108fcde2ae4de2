package check

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverha/drover/model"
)

// benchTargets is how many real servers the benchmarks probe at once, as
// a director with a few hundred real servers does.
const benchTargets = 200

// BenchmarkHTTPChecks runs the HTTP probe, one fresh connection each, as
// fast as one core allows: GOMAXPROCS is 1 for its duration. One goroutine
// per target probes it over and over, as a probe loop would with no
// interval.
//
// The real servers are net/http servers (what a real server's health
// endpoint costs) or minimal canned responders, in this process, on the
// same core, so that figure is a floor for the checker alone; or net/http
// servers in a child process (server=process), so the core is the
// checker's, as on a director.
//
// Besides checks/s (wall time) it reports checks/cpu-s: checks per second
// of CPU this process used, what a whole core would give on a busy machine.
func BenchmarkHTTPChecks(b *testing.B) {
	for _, srv := range []struct {
		name  string
		start func(testing.TB, int) []netip.AddrPort
	}{
		{"server=process", startServerProcess},
		{"server=nethttp", each(startNetHTTP)},
		{"server=canned", each(func(tb testing.TB) netip.AddrPort {
			return listen(tb, answers("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"))
		})},
	} {
		for _, check := range []struct {
			name string
			c    model.Check
		}{
			{"status", model.Check{Kind: "http", Path: "/health"}},
			{"body", model.Check{Kind: "http", Path: "/health", BodyRegex: "ok"}},
		} {
			b.Run(srv.name+"/"+check.name, func(b *testing.B) {
				benchProbes(b, srv.start(b, benchTargets), check.c)
			})
		}
	}
}

// each starts n servers with start.
func each(start func(testing.TB) netip.AddrPort) func(testing.TB, int) []netip.AddrPort {
	return func(tb testing.TB, n int) []netip.AddrPort {
		addrs := make([]netip.AddrPort, n)
		for i := range addrs {
			addrs[i] = start(tb)
		}
		return addrs
	}
}

// startServerProcess runs TestBenchServerProcess in a child process: n
// net/http servers there, until this test ends (it closes the child's
// stdin).
func startServerProcess(tb testing.TB, n int) []netip.AddrPort {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchServerProcess$")
	cmd.Env = append(os.Environ(), benchServerEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	var addrs []netip.AddrPort
	sc := bufio.NewScanner(stdout)
	for len(addrs) < n && sc.Scan() {
		if a, err := netip.ParseAddrPort(strings.TrimPrefix(sc.Text(), "listening ")); err == nil {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) < n {
		tb.Fatalf("the server process started %d servers of %d", len(addrs), n)
	}
	go io.Copy(io.Discard, stdout)
	return addrs
}

const benchServerEnv = "DROVER_CHECK_BENCH_SERVERS"

// TestBenchServerProcess is not a test: it is the server process of
// BenchmarkHTTPChecks/server=process, and skips unless that started it.
func TestBenchServerProcess(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(benchServerEnv))
	if err != nil {
		t.Skip("the server process of BenchmarkHTTPChecks")
	}
	for range n {
		fmt.Printf("listening %v\n", startNetHTTP(t))
	}
	// Until the benchmark closes stdin (or dies), and never for long.
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
	}
}

func startNetHTTP(tb testing.TB) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok\n")
		}),
		ReadHeaderTimeout: testTimeout,
	}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// benchProbes probes targets, one goroutine each, b.N probes in all, on
// one core, and reports checks/s. Every probe must be healthy.
func benchProbes(b *testing.B, targets []netip.AddrPort, c model.Check) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	c = WithDefaults(c)
	probers := make([]prober, len(targets))
	for i, t := range targets {
		probers[i] = newProber(t, c)
		if r := probers[i].probe(b.Context()); !r.Healthy {
			b.Fatalf("warm-up probe of %v: %+v", t, r)
		}
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	var failed atomic.Pointer[Result]
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for _, p := range probers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				r := p.probe(ctx)
				cancel()
				if !r.Healthy {
					failed.Store(&r)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	if r := failed.Load(); r != nil {
		b.Fatalf("a probe failed: %+v", *r)
	}
	reportRates(b, elapsed, cpu)
}

// reportRates reports checks/s (b.N over wall time, on one core: what the
// machine gave) and checks/cpu-s (b.N over the CPU time the process used:
// what one whole core would give, however busy the machine was).
func reportRates(b *testing.B, elapsed, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "checks/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "checks/cpu-s")
	}
}

// BenchmarkTextChecks is the same for the SMTP conversation (greeting,
// EHLO, QUIT), the chattiest of the line protocols.
func BenchmarkTextChecks(b *testing.B) {
	targets := make([]netip.AddrPort, benchTargets)
	for i := range targets {
		targets[i] = listen(b, says("220 mx ESMTP\r\n", map[string]string{"EHLO": "250 mx\r\n", "QUIT": "221 bye\r\n"}))
	}
	benchProbes(b, targets, model.Check{Kind: "smtp"})
}

// BenchmarkChecker measures the scheduler's own cost: many loops at a
// short interval with a probe that does nothing, reporting the probe rate
// it sustains on one core.
func BenchmarkChecker(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const loops = 5000
	var probes atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	c := New(Options{Probe: func(context.Context, netip.AddrPort, model.Check) Result {
		if probes.Add(1) == int64(b.N) {
			once.Do(func() { close(done) })
		}
		return Result{Healthy: true, Reason: "fine"}
	}})
	defer c.Close()
	targets := make([]Target, loops)
	for i := range targets {
		targets[i] = Target{
			Address: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), 80),
			Check:   model.Check{Kind: "tcp", Interval: 10 * time.Millisecond},
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	c.Set(targets)
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("only %d probes in a minute", probes.Load())
	}
	reportRates(b, time.Since(start), cpuTime()-cpu0)
}

package check

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/droverha/drover/model"
)

// Time bounds. The long one only bounds a test that would otherwise hang;
// the short one is the probe timeout of cases that are meant to time out.
const (
	testTimeout  = 10 * time.Second
	shortTimeout = 200 * time.Millisecond
)

// listen starts a TCP server on loopback that runs handle for every
// connection, and returns its address. Everything stops at the test's end.
func listen(t testing.TB, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[conn] = true
			mu.Unlock()
			conn.SetDeadline(time.Now().Add(testTimeout))
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, conn)
					mu.Unlock()
					conn.Close()
				}()
				handle(conn)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// refused returns a loopback address where nothing listens.
func refused(t testing.TB) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return addr
}

// silent accepts, reads, and says nothing until the client goes away.
func silent(c net.Conn) { io.Copy(io.Discard, c) }

// answers reads a request up to its blank line, writes resp and closes.
// Reading first matters: closing with unread data sends a reset, which
// would overtake resp.
func answers(resp string) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		c.Write([]byte(resp))
	}
}

// says writes text and then answers each line the client sends with the
// reply of the first command it starts with (case-insensitively), or
// "500 what?"; it closes after answering QUIT or LOGOUT.
func says(greeting string, replies map[string]string) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := c.Write([]byte(greeting)); err != nil {
			return
		}
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			reply := "500 what?\r\n"
			for cmd, r := range replies {
				if strings.HasPrefix(strings.ToUpper(line), cmd) {
					reply = r
				}
			}
			c.Write([]byte(reply))
			if u := strings.ToUpper(line); strings.HasPrefix(u, "QUIT") || strings.Contains(u, "LOGOUT") {
				return
			}
		}
	}
}

// probeCase is one probe and the result wanted of it.
type probeCase struct {
	name   string
	target netip.AddrPort
	check  model.Check
	// timeout of the probe; zero: testTimeout.
	timeout time.Duration
	healthy bool
	// reason is compared whole, unless contains is set: then reason must
	// contain it (for texts from the TLS stack or the OS).
	reason   string
	contains bool
}

func runProbeCases(t *testing.T, cases []probeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			timeout := tc.timeout
			if timeout == 0 {
				timeout = testTimeout
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			got := Probe(ctx, tc.target, tc.check)
			if got.Latency <= 0 {
				t.Errorf("Latency = %v, want > 0", got.Latency)
			}
			if tc.contains {
				if got.Healthy != tc.healthy || !strings.Contains(got.Reason, tc.reason) {
					t.Errorf("Probe() = %+v, want Healthy %v and a reason containing %q", got, tc.healthy, tc.reason)
				}
				return
			}
			want := Result{Healthy: tc.healthy, Reason: tc.reason}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Result{}, "Latency")); diff != "" {
				t.Errorf("Probe() (-want +got):\n%s", diff)
			}
		})
	}
}

// recv waits for one value from ch, failing the test after testTimeout.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

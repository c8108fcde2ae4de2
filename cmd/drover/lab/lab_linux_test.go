package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

// droverBin is the drover binary the agent tests run, built in TestMain
// when privileged tests can run.
var droverBin, buildErr = "", error(nil)

func TestMain(m *testing.M) {
	code := func() int {
		if b := os.Getenv("DROVER_BINARY"); b != "" {
			// The kernel lab ships drover: its VM cannot build one.
			droverBin = b
		} else if os.Geteuid() == 0 {
			dir, err := os.MkdirTemp("", "drover-lab-test")
			if err != nil {
				panic(err)
			}
			defer os.RemoveAll(dir)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			droverBin, buildErr = Build(ctx, dir)
			cancel()
		}
		return m.Run()
	}()
	os.Exit(code)
}

// privileged skips a test that needs root, or fails it when CI demands
// privileged tests (DROVER_PRIVILEGED_TESTS=1).
func privileged(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("ip"); err == nil {
			return
		}
	}
	if os.Getenv("DROVER_PRIVILEGED_TESTS") == "1" {
		t.Fatal("privileged test cannot run: needs root and iproute2 (DROVER_PRIVILEGED_TESTS=1)")
	}
	t.Skip("needs root and iproute2")
}

// logWriter passes the lab's progress lines to t.Log.
type logWriter struct {
	t  *testing.T
	mu sync.Mutex
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// up brings up topo with its state in a temporary directory and removes
// it when the test ends, whatever happens.
func up(t *testing.T, topo *Topology, binary string) *Lab {
	t.Helper()
	dir := filepath.Join(t.TempDir(), topo.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Up(ctx, topo, Options{StateDir: dir, Binary: binary, Log: &logWriter{t: t}})
	t.Cleanup(func() {
		if err := DownWith(topo.Name, Options{StateDir: dir}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	return l
}

func labNamespaces(t *testing.T, lab string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "drl-"+lab+"-") {
			names = append(names, f[0])
		}
	}
	slices.Sort(names)
	return names
}

// dial tries a TCP connection from namespace from to a listener that
// namespace to opens on addr; it reports the dialling error.
func dial(t *testing.T, l *Lab, from, to string, addr netip.Addr, timeout time.Duration) error {
	t.Helper()
	var ln net.Listener
	if err := InNS(l.NS(to), func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	}); err != nil {
		t.Fatalf("listening in %s: %v", to, err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	return InNS(l.NS(from), func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), timeout)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// reach waits up to 5s for from to reach to at addr.
func reach(t *testing.T, l *Lab, from, to string, addr netip.Addr) {
	t.Helper()
	var err error
	for range 10 {
		if err = dial(t, l, from, to, addr, 500*time.Millisecond); err == nil {
			return
		}
	}
	t.Fatalf("%s cannot reach %s at %s: %v", from, to, addr, err)
}

func TestPrivilegedLabNetwork(t *testing.T) {
	privileged(t)
	t.Parallel()
	const name = "lt1"
	topo := &Topology{
		Name:    name,
		Subnet:  netip.MustParsePrefix("198.51.100.0/24"),
		Subnet6: netip.MustParsePrefix("2001:db8:5100::/64"),
		Hosts: []Host{
			{Name: "a", Addr: netip.MustParseAddr("198.51.100.1"), Addr6: netip.MustParseAddr("2001:db8:5100::1")},
			{Name: "b", Addr: netip.MustParseAddr("198.51.100.2"), Addr6: netip.MustParseAddr("2001:db8:5100::2")},
			{Name: "c", Addr: netip.MustParseAddr("198.51.100.3")},
		},
	}
	l := up(t, topo, "")

	want := []string{"drl-lt1-a", "drl-lt1-b", "drl-lt1-c", "drl-lt1-sw"}
	if got := labNamespaces(t, name); !slices.Equal(got, want) {
		t.Fatalf("namespaces %v, want %v", got, want)
	}
	for _, h := range topo.Hosts {
		if _, err := os.Stat(l.NSPath(h.Name)); err != nil {
			t.Errorf("NSPath(%s): %v", h.Name, err)
		}
		// The MAC follows the documented rule.
		sum := sha256.Sum256([]byte(name + "/" + h.Name))
		wantMAC := fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3])
		out, err := l.Exec(context.Background(), h.Name, "cat", "/sys/class/net/eth0/address")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != wantMAC || l.MAC(h.Name).String() != wantMAC {
			t.Errorf("%s: eth0 has MAC %s, Lab.MAC says %s, want %s", h.Name, got, l.MAC(h.Name), wantMAC)
		}
	}

	reach(t, l, "a", "b", l.Addr("b"))
	reach(t, l, "c", "a", l.Addr("a"))
	reach(t, l, "b", "a", netip.MustParseAddr("2001:db8:5100::1")) // IPv6, no DAD wait

	// Pulling b's cable cuts it off; plugging it back restores it.
	if err := l.LinkDown("b"); err != nil {
		t.Fatal(err)
	}
	if err := dial(t, l, "a", "b", l.Addr("b"), 500*time.Millisecond); err == nil {
		t.Error("a reached b with b's switch port down")
	}
	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.LinkUp != (s.Host != "b") || !s.Present || s.MAC != l.MAC(s.Host).String() || s.Running {
			t.Errorf("status with b's port down: %+v", s)
		}
	}
	if err := l.LinkUp("b"); err != nil {
		t.Fatal(err)
	}
	reach(t, l, "a", "b", l.Addr("b"))

	if err := l.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if got := labNamespaces(t, name); len(got) != 0 {
		t.Fatalf("after Down: namespaces %v", got)
	}
	if _, err := os.Stat(l.StateDir()); !os.IsNotExist(err) {
		t.Errorf("after Down: state directory: %v", err)
	}
	if err := l.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}

	// A crash: the lab is up, a process runs in it that nobody tracks,
	// and the state directory is gone. Down from the name alone removes
	// it all, and again is no error.
	l = up(t, topo, "")
	stray := exec.Command("ip", "netns", "exec", l.NS("c"), "sleep", "30")
	stray.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	strayDone := make(chan error, 1)
	go func() { strayDone <- stray.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-stray.Process.Pid, syscall.SIGKILL)
		<-strayDone
	})
	if err := os.RemoveAll(l.StateDir()); err != nil {
		t.Fatal(err)
	}
	if err := Down(name); err != nil {
		t.Fatalf("Down(%q) after a crash: %v", name, err)
	}
	if got := labNamespaces(t, name); len(got) != 0 {
		t.Errorf("after Down(%q): namespaces %v", name, got)
	}
	select {
	case err := <-strayDone:
		strayDone <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Error("Down left the process in drl-lt1-c running")
	}
	if err := Down(name); err != nil {
		t.Errorf("second Down(%q): %v", name, err)
	}
	if _, err := Open(name, Options{StateDir: l.StateDir()}); err == nil {
		t.Error("Open after Down found the lab")
	}
}

// view asks host's agent for the cluster view.
func view(l *Lab, host string) (model.View, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := l.Drover(ctx, host, "status", "-o", "json", "--timeout", "1s")
	if err != nil {
		return model.View{}, err
	}
	return bus.DecodeView(out)
}

// formed reports why v is not a formed cluster of n alive nodes with a
// manager, or "" when it is.
func formed(v model.View, n int) string {
	alive := 0
	for _, node := range v.Nodes {
		if node.State == model.NodeAlive {
			alive++
		}
	}
	switch {
	case len(v.Nodes) != n || alive != n:
		return fmt.Sprintf("%d of %d nodes alive", alive, len(v.Nodes))
	case v.Manager == "":
		return "no manager"
	}
	return ""
}

// waitFormed waits up to 30s for every host in hosts to see a formed
// cluster of n nodes.
func waitFormed(t *testing.T, l *Lab, n int, hosts ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, h := range hosts {
		for {
			v, err := view(l, h)
			why := ""
			if err != nil {
				why = err.Error()
			} else {
				why = formed(v, n)
			}
			if why == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent %s never saw a formed cluster: %s", h, why)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func TestPrivilegedLabAgents(t *testing.T) {
	privileged(t)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	t.Parallel()
	const name = "lt2"
	topo := &Topology{
		Name:   name,
		Subnet: netip.MustParsePrefix("203.0.113.0/24"),
		Hosts: []Host{
			{Name: "n1", Addr: netip.MustParseAddr("203.0.113.1"), Agent: true},
			{Name: "n2", Addr: netip.MustParseAddr("203.0.113.2"), Agent: true},
			{Name: "n3", Addr: netip.MustParseAddr("203.0.113.3"), Agent: true},
		},
	}
	l := up(t, topo, droverBin)
	t.Cleanup(func() { // runs before the lab is removed
		if t.Failed() {
			for _, h := range topo.Hosts {
				b, _ := os.ReadFile(l.LogPath(h.Name))
				if i := bytes.LastIndex(b, []byte("--- drover lab")); i > 0 {
					b = b[i:]
				}
				t.Logf("log of %s:\n%s", h.Name, b)
			}
		}
	})
	if got := l.ClientURL("n1"); got != "nats://127.0.0.1:4222" {
		t.Errorf("ClientURL = %s", got)
	}
	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if !s.Running || !s.Agent || s.PID == 0 {
			t.Errorf("status after Up: %+v", s)
		}
	}
	waitFormed(t, l, 3, "n1", "n2", "n3")

	// A crash and a restart: the node comes back into the cluster.
	if err := l.Kill("n2"); err != nil {
		t.Fatal(err)
	}
	if st, _ := l.Status(); st[1].Running {
		t.Errorf("n2 still running after Kill: %+v", st[1])
	}
	if err := l.Kill("n2"); err == nil {
		t.Error("Kill of a dead agent: no error")
	}
	if err := l.Start("n2"); err != nil {
		t.Fatal(err)
	}
	if err := l.Start("n2"); err == nil {
		t.Error("Start of a running agent: no error")
	}
	waitFormed(t, l, 3, "n2", "n1")

	// A graceful stop ends the agent (it leaves the cluster first).
	if err := l.Stop("n3"); err != nil {
		t.Fatal(err)
	}
	if st := mustStatus(t, l); st[2].Running || !st[0].Running || !st[1].Running {
		t.Errorf("after Stop(n3): %+v", st)
	}

	pids := []int{}
	for _, s := range mustStatus(t, l) {
		pids = append(pids, s.PID)
	}
	if err := l.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("agent pid %d still running after Down", pid)
		}
	}
	if got := labNamespaces(t, name); len(got) != 0 {
		t.Errorf("after Down: namespaces %v", got)
	}
}

func mustStatus(t *testing.T, l *Lab) []HostStatus {
	t.Helper()
	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

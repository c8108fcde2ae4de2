package vmtest

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/droverha/drover/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// ipvsReady skips a test that needs root, ipvsadm and a kernel with
// ip_vs, or fails it when the caller says they are there
// (DROVER_IPVS_TESTS=1, as the kernel lab does) or demands privileged
// tests and there is no root (DROVER_PRIVILEGED_TESTS=1).
func ipvsReady(t *testing.T) {
	t.Helper()
	must := os.Getenv("DROVER_IPVS_TESTS") == "1"
	if os.Geteuid() != 0 {
		if must || os.Getenv("DROVER_PRIVILEGED_TESTS") == "1" {
			t.Fatal("IPVS test cannot run: needs root")
		}
		t.Skip("needs root")
	}
	for _, tool := range []string{"ipvsadm", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			if must {
				t.Fatalf("IPVS test cannot run: no %s (DROVER_IPVS_TESTS=1)", tool)
			}
			t.Skip("needs ipvsadm and iproute2")
		}
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		exec.Command("modprobe", "ip_vs").Run() // best effort, as ipvsadm itself does
		if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
			if must {
				t.Fatal("IPVS test cannot run: the kernel has no ip_vs (DROVER_IPVS_TESTS=1)")
			}
			t.Skip("the kernel has no ip_vs: run it in the kernel lab (make test-kernel)")
		}
	}
}

// inNewNetns runs fn on an OS thread moved into a new network namespace;
// commands fn starts inherit it. The thread is never unlocked, so Go
// discards it when fn returns and the namespace goes with its last user:
// nothing is left behind, even when the test fails.
func inNewNetns(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			t.Errorf("unshare(CLONE_NEWNET): %v", err)
			return
		}
		fn()
	}()
	<-done
}

// TestPrivilegedIPVSInVM programs a virtual service per scheduler with one
// real server per forwarding method (masquerading, tunnel, direct
// routing) and compares the kernel's table, as `ipvsadm -Sn` prints it,
// with testdata/ipvsadm-Sn.golden.
func TestPrivilegedIPVSInVM(t *testing.T) {
	ipvsReady(t)
	cmds := [][]string{
		{"-A", "-t", "192.0.2.1:80", "-s", "rr"},
		{"-a", "-t", "192.0.2.1:80", "-r", "198.51.100.1:80", "-m"},
		{"-a", "-t", "192.0.2.1:80", "-r", "198.51.100.2:80", "-i", "-w", "2"},
		{"-a", "-t", "192.0.2.1:80", "-r", "198.51.100.3:80", "-g", "-w", "3"},
		{"-A", "-u", "192.0.2.1:53", "-s", "sh", "-b", "sh-port"},
		{"-a", "-u", "192.0.2.1:53", "-r", "198.51.100.1:53", "-m"},
		{"-A", "-t", "192.0.2.2:443", "-s", "wlc", "-p", "300"},
		{"-a", "-t", "192.0.2.2:443", "-r", "203.0.113.10:443", "-m", "-x", "100", "-y", "50"},
	}
	// Every scheduler of the kernel's IPVS, one service each.
	for i, s := range []string{"wrr", "lc", "lblc", "lblcr", "dh", "sed", "nq", "mh", "fo", "ovf"} {
		cmds = append(cmds, []string{"-A", "-t", "203.0.113." + strconv.Itoa(i+1) + ":80", "-s", s})
	}
	// IPVS accepts only real servers its routing calls unicast: give the
	// namespace a link with routes to them.
	setup := [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "rs0", "type", "dummy"},
		{"link", "set", "rs0", "up"},
		{"addr", "add", "198.51.100.254/24", "dev", "rs0"},
		{"addr", "add", "203.0.113.254/24", "dev", "rs0"},
	}
	var got string
	inNewNetns(t, func() {
		for _, args := range setup {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Errorf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
		for _, args := range cmds {
			if out, err := exec.Command("ipvsadm", args...).CombinedOutput(); err != nil {
				t.Errorf("ipvsadm %s: %v\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
		out, err := exec.Command("ipvsadm", "-Sn").CombinedOutput()
		if err != nil {
			t.Errorf("ipvsadm -Sn: %v\n%s", err, out)
			return
		}
		got = string(out)
	})
	if t.Failed() {
		return
	}
	goldenFile(t, "ipvsadm-Sn.golden", got)
}

func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	golden.Compare(t, *update, filepath.Join("testdata", name), []byte(got))
}

//go:build linux

package ipvs

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/droverha/drover/internal/golden"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The privileged tests program a real kernel's IPVS, each in a network
// namespace of its own, so the host's table is never touched. They skip
// without root or without IPVS (this needs the ip_vs module: where the
// host has none, run them in the kernel lab:
//
//	go run ./tools/kernellab test -v ./agent/ipvs
//
// ), and fail instead when DROVER_IPVS_TESTS=1 says IPVS is there, as the
// lab does. Without root they also fail under DROVER_PRIVILEGED_TESTS=1.

// ipvsReady skips or fails tb unless it can program IPVS.
func ipvsReady(tb testing.TB) {
	tb.Helper()
	must := os.Getenv("DROVER_IPVS_TESTS") == "1"
	if os.Geteuid() != 0 {
		if must || os.Getenv("DROVER_PRIVILEGED_TESTS") == "1" {
			tb.Fatal("IPVS test cannot run: needs root")
		}
		tb.Skip("needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		if must {
			tb.Fatal("IPVS test cannot run: no ip (iproute2) (DROVER_IPVS_TESTS=1)")
		}
		tb.Skip("needs iproute2")
	}
	c, err := New(Options{})
	if errors.Is(err, ErrNotSupported) {
		exec.Command("modprobe", "ip_vs").Run() // best effort, as ipvsadm does
		c, err = New(Options{})
	}
	if err != nil {
		if must {
			tb.Fatalf("IPVS test cannot run (DROVER_IPVS_TESTS=1): %v", err)
		}
		tb.Skipf("%v: run it in the kernel lab (go run ./tools/kernellab test ./agent/ipvs)", err)
	}
	c.Close()
}

// needIpvsadm skips or fails tb unless ipvsadm is there.
func needIpvsadm(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("ipvsadm"); err != nil {
		if os.Getenv("DROVER_IPVS_TESTS") == "1" {
			tb.Fatal("no ipvsadm (DROVER_IPVS_TESTS=1)")
		}
		tb.Skip("needs ipvsadm")
	}
}

// testNS is a network namespace that lives as long as the test.
type testNS struct {
	h    netns.NsHandle
	path string // for Options.NetNS
}

// newNS makes a namespace with lo up and a dummy link holding the
// documentation prefixes: IPVS accepts only real servers its routing
// calls unicast.
func newNS(tb testing.TB) *testNS {
	tb.Helper()
	var h netns.NsHandle
	var err error
	onThread(func() { h, err = netns.New() })
	if err != nil {
		tb.Fatalf("new network namespace: %v", err)
	}
	tb.Cleanup(func() { h.Close() })
	ns := &testNS{h: h, path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(h))}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "rs0", "type", "dummy"},
		{"link", "set", "rs0", "up"},
		{"addr", "add", "198.51.100.254/24", "dev", "rs0"},
		{"addr", "add", "203.0.113.254/24", "dev", "rs0"},
		{"addr", "add", "2001:db8::fe/64", "dev", "rs0", "nodad"},
	} {
		ns.run(tb, "ip", args...)
	}
	return ns
}

// onThread runs fn on an OS thread of its own that is never unlocked:
// whatever namespace fn moves it to, Go discards the thread afterwards.
func onThread(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		fn()
	}()
	<-done
}

// exec runs a command inside the namespace.
func (ns *testNS) exec(name string, args ...string) (string, error) {
	var out []byte
	var err error
	onThread(func() {
		if err = netns.Set(ns.h); err != nil {
			return
		}
		out, err = exec.Command(name, args...).CombinedOutput()
	})
	return string(out), err
}

func (ns *testNS) run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := ns.exec(name, args...)
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (ns *testNS) client(tb testing.TB) *client {
	tb.Helper()
	c, err := New(Options{NetNS: ns.path})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c.(*client)
}

func privilegedGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Compare(t, *update, filepath.Join("testdata", name), []byte(got))
}

// TestPrivilegedGolden builds the fixture table (every protocol,
// addressed and fwmark services of both families, persistence with
// netmasks, scheduler flags, one-packet scheduling, NAT, DR and tunnel
// destinations, thresholds) and compares the kernel's table with
// ipvsadm's view of it and with what Read decodes.
func TestPrivilegedGolden(t *testing.T) {
	ipvsReady(t)
	needIpvsadm(t)
	ns := newNS(t)
	c := ns.client(t)
	applied, err := Reconcile(c, fixture(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Diff(nil, fixture(), nil), applied, addrs); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	privilegedGolden(t, "ipvsadm-save.golden", ns.run(t, "ipvsadm", "-Sn"))

	table, svcs, dests, err := Read(c)
	if err != nil {
		t.Fatal(err)
	}
	// Read sees what ipvsadm sees, and the thresholds it does not show.
	if diff := cmp.Diff(normalized(fixture()), table, addrs); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(readGolden(t, "ipvsadm-save.golden"), table.Save()); diff != "" {
		t.Errorf("Save of the table read (-want +got):\n%s", diff)
	}
	if len(svcs) != len(fixture()) || len(dests) != len(fixture()) {
		t.Errorf("Read: %d services, %d destination lists", len(svcs), len(dests))
	}
	if applied, err := Reconcile(c, fixture(), nil); err != nil || len(applied) != 0 {
		t.Errorf("second Reconcile applied %v, %v; want nothing", applied, err)
	}

	// Remove everything.
	if _, err := Reconcile(c, nil, nil); err != nil {
		t.Fatal(err)
	}
	if out := ns.run(t, "ipvsadm", "-Sn"); out != "" {
		t.Errorf("ipvsadm -Sn after removing everything:\n%s", out)
	}
}

// kernelHasModule reports whether the running kernel has module name
// (built in or as a file); unknown without /lib/modules.
func kernelHasModule(name string) (has, known bool) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false, false
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]))
	known = false
	for _, f := range []string{"modules.dep", "modules.builtin"} {
		file, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		known = true
		s := bufio.NewScanner(file)
		for s.Scan() {
			line, _, _ := strings.Cut(s.Text(), ":")
			base := filepath.Base(line)
			if base == name+".ko" || strings.HasPrefix(base, name+".ko.") {
				file.Close()
				return true, true
			}
		}
		file.Close()
	}
	return false, known
}

// TestPrivilegedSchedulers creates a service with every scheduler the
// kernel can have, and the flags sh and mh read.
func TestPrivilegedSchedulers(t *testing.T) {
	ipvsReady(t)
	ns := newNS(t)
	c := ns.client(t)
	for i, tc := range []struct {
		sched string
		flags Flags
	}{
		{"rr", 0}, {"wrr", 0}, {"lc", 0}, {"wlc", 0}, {"lblc", 0}, {"lblcr", 0}, {"dh", 0},
		{"sh", 0}, {"sh", FlagSHFallback}, {"sh", FlagSHFallback | FlagSHPort},
		{"sed", 0}, {"nq", 0},
		{"mh", 0}, {"mh", FlagMHPort}, {"mh", FlagMHFallback | FlagMHPort},
		{"fo", 0}, {"ovf", 0}, {"twos", 0},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.sched, tc.flags), func(t *testing.T) {
			s := Service{ServiceKey: tcp("192.0.2.1", uint16(1000+i)), Scheduler: tc.sched, Flags: tc.flags}
			err := c.CreateService(s)
			if errors.Is(err, ErrUnknownScheduler) {
				has, known := kernelHasModule("ip_vs_" + tc.sched)
				if known && !has {
					t.Skipf("this kernel has no %s scheduler", tc.sched)
				}
				if os.Getenv("DROVER_IPVS_TESTS") == "1" {
					t.Fatalf("%v (DROVER_IPVS_TESTS=1)", err)
				}
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CreateDestination(s.ServiceKey, dest("198.51.100.1", 80, ForwardDR, 1)); err != nil {
				t.Fatal(err)
			}
			svcs, err := c.Services()
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, si := range svcs {
				if si.ServiceKey == s.ServiceKey.Normalize() {
					found = true
					if diff := cmp.Diff(s.Normalize(), si.Service, addrs); diff != "" {
						t.Errorf("read back (-want +got):\n%s", diff)
					}
				}
			}
			if !found {
				t.Errorf("%s not listed", s.ServiceKey)
			}
			if err := c.RemoveService(s.ServiceKey); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPrivilegedOperations drives each Client call against the kernel
// and checks what it reports back and the errors it gives.
func TestPrivilegedOperations(t *testing.T) {
	ipvsReady(t)
	ns := newNS(t)
	c := ns.client(t)
	for _, vs := range fixture() {
		if err := c.CreateService(vs.Service); err != nil {
			t.Fatal(err)
		}
		for _, d := range vs.Destinations {
			if err := c.CreateDestination(vs.ServiceKey, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := normalized(fixture())
	check := func(what string) {
		t.Helper()
		got, _, _, err := Read(c)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, addrs); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}
	check("created one call at a time")

	web := want[0]
	d := web.Destinations[0]
	d.Weight, d.Forward = 7, ForwardDR
	if err := c.UpdateDestination(web.ServiceKey, d); err != nil {
		t.Fatal(err)
	}
	want[0].Destinations[0] = d
	check("after a weight and forwarding change")

	s := web.Service
	s.Scheduler, s.Flags, s.Timeout, s.Netmask = "wlc", FlagPersistent, 120, 16
	if err := c.UpdateService(s); err != nil {
		t.Fatal(err)
	}
	want[0].Service = s
	check("after a scheduler and persistence change")

	if err := c.RemoveDestination(web.ServiceKey, d.DestKey); err != nil {
		t.Fatal(err)
	}
	want[0].Destinations = want[0].Destinations[1:]
	check("after removing a destination")

	last := want[len(want)-1].ServiceKey
	if err := c.RemoveService(last); err != nil {
		t.Fatal(err)
	}
	want = want[:len(want)-1]
	check("after removing a service")

	for _, tc := range []struct {
		name   string
		err    error
		target error
	}{
		{"create an existing service", c.CreateService(web.Service), fs.ErrExist},
		{"update a missing service", c.UpdateService(Service{ServiceKey: last}), fs.ErrNotExist},
		{"remove a missing service", c.RemoveService(last), fs.ErrNotExist},
		{"destination of a missing service", c.CreateDestination(last, dest("2001:db8::9", 0, ForwardDR, 1)), fs.ErrNotExist},
		{"create an existing destination", c.CreateDestination(web.ServiceKey, web.Destinations[1]), fs.ErrExist},
		{"update a missing destination", c.UpdateDestination(web.ServiceKey, d), fs.ErrNotExist},
		{"remove a missing destination", c.RemoveDestination(web.ServiceKey, d.DestKey), fs.ErrNotExist},
		{"unknown scheduler", c.CreateService(Service{ServiceKey: tcp("192.0.2.1", 1), Scheduler: "nope"}), ErrUnknownScheduler},
	} {
		if !errors.Is(tc.err, tc.target) {
			t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.target)
		}
	}
	check("after the failed calls")
	if ds, err := c.Destinations(last); err != nil || len(ds) != 0 {
		t.Errorf("Destinations of a missing service = %v, %v; want none", ds, err)
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	if svcs, err := c.Services(); err != nil || len(svcs) != 0 {
		t.Errorf("after flush: %v, %v", svcs, err)
	}
}

// TestPrivilegedReconcileLeavesHandMadeServiceAlone: a service made with
// ipvsadm, which the agent does not own, survives every reconcile.
func TestPrivilegedReconcileLeavesHandMadeServiceAlone(t *testing.T) {
	ipvsReady(t)
	needIpvsadm(t)
	ns := newNS(t)
	ns.run(t, "ipvsadm", "-A", "-t", "192.0.2.99:22", "-s", "rr")
	ns.run(t, "ipvsadm", "-a", "-t", "192.0.2.99:22", "-r", "198.51.100.99:22", "-g", "-w", "1")
	c := ns.client(t)
	mine := map[ServiceKey]bool{}
	for _, vs := range fixture() {
		mine[vs.ServiceKey.Normalize()] = true
	}
	owned := func(k ServiceKey) bool { return mine[k] }

	if _, err := Reconcile(c, fixture(), owned); err != nil {
		t.Fatal(err)
	}
	if applied, err := Reconcile(c, fixture(), owned); err != nil || len(applied) != 0 {
		t.Errorf("second Reconcile applied %v, %v; want nothing", applied, err)
	}
	applied, err := Reconcile(c, fixture()[1:], owned)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Op{{Kind: OpRemoveService, Service: fixture()[0].Service.Normalize()}}, applied, addrs); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	hand := "-A -t 192.0.2.99:22 -s rr\n-a -t 192.0.2.99:22 -r 198.51.100.99:22 -g -w 1\n"
	if out := ns.run(t, "ipvsadm", "-Sn"); !strings.Contains(out, hand) {
		t.Errorf("the hand-made service is gone:\n%s", out)
	}
	if _, err := Reconcile(c, nil, owned); err != nil {
		t.Fatal(err)
	}
	if out := ns.run(t, "ipvsadm", "-Sn"); out != hand {
		t.Errorf("after reconciling to nothing, ipvsadm -Sn =\n%s\nwant only the hand-made service", out)
	}
}

// TestPrivilegedPipelinedErrors checks what Apply's batching relies on:
// the kernel handles every message of a datagram, answers each failure
// with its sequence number, and an error flood does not overrun the
// socket.
func TestPrivilegedPipelinedErrors(t *testing.T) {
	ipvsReady(t)
	ns := newNS(t)
	c := ns.client(t)
	var table Table
	for i := range 600 {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 250)})
		vs := VirtualService{Service: Service{ServiceKey: ServiceKey{Protocol: ProtocolTCP, Address: a, Port: uint16(1000 + i/250)}, Scheduler: "rr"}}
		for j := range 2 {
			vs.Destinations = append(vs.Destinations, dest(fmt.Sprintf("198.51.100.%d", 1+j), uint16(8000+i), ForwardNAT, 1))
		}
		table = append(table, vs)
	}
	ops := Diff(nil, table, nil)
	applied, err := c.Apply(ops)
	if err != nil || len(applied) != len(ops) {
		t.Fatalf("Apply of %d ops: %d applied, %v", len(ops), len(applied), err)
	}
	// Every other op of a second run fails: 900 errors, 600 successes.
	var again []Op
	for i, op := range ops {
		if i%2 == 0 {
			again = append(again, op) // exists: fails
		} else {
			up := op
			if up.Kind == OpCreateDestination {
				up.Kind, up.Dest.Weight = OpUpdateDestination, 2
			} else {
				up.Kind = OpUpdateService
			}
			again = append(again, up)
		}
	}
	applied, err = c.Apply(again)
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an *ApplyError", err)
	}
	if len(ae.Failed) != len(again)/2 || len(applied) != len(again)/2 {
		t.Errorf("%d failed, %d applied; want %d each", len(ae.Failed), len(applied), len(again)/2)
	}
	for i, f := range ae.Failed {
		if f.Op != again[2*i] || !errors.Is(f, fs.ErrExist) {
			t.Errorf("failure %d: %v, want %v to exist", i, f, again[2*i])
			break
		}
	}
	got, _, _, err := Read(c)
	if err != nil {
		t.Fatal(err)
	}
	want := Diff(got, table, nil)
	for _, op := range want {
		if op.Kind != OpUpdateDestination || op.Dest.Weight != 1 {
			t.Errorf("after the mixed batch, the kernel's table differs by %v", op)
			break
		}
	}
	if len(want) != 600 {
		t.Errorf("%d destinations have weight 2, want 600", len(want))
	}
}

// TestPrivilegedReconcilerWeightChange: a weight change on a read table
// is one request.
func TestPrivilegedReconcilerWeightChange(t *testing.T) {
	ipvsReady(t)
	ns := newNS(t)
	c := ns.client(t)
	r := NewReconciler(c, nil)
	table := fixture()
	if _, err := r.Reconcile(table); err != nil {
		t.Fatal(err)
	}
	table[5].Destinations[1].Weight = 0
	applied, err := r.Reconcile(table)
	if err != nil {
		t.Fatal(err)
	}
	want := []Op{{Kind: OpUpdateDestination, Service: table[5].Service.Normalize(), Dest: table[5].Destinations[1]}}
	if diff := cmp.Diff(want, applied, addrs); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	got, _, _, err := Read(c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(normalized(table), got, addrs); diff != "" {
		t.Errorf("kernel table (-want +got):\n%s", diff)
	}
}

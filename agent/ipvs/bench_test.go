//go:build linux

package ipvs

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"github.com/vishvananda/netns"
)

// bigTable is services×dests: TCP services on 192.0.2.1-250, 40 ports
// each, destinations on 198.51.100.1-250 (the documentation ranges only).
func bigTable(services, dests int) Table {
	t := make(Table, services)
	for i := range t {
		vs := &t[i]
		vs.Service = Service{ServiceKey: ServiceKey{Protocol: ProtocolTCP, Address: addrN(192, 0, 2, i%250), Port: uint16(1000 + i/250)}, Scheduler: "wrr"}
		vs.Destinations = make([]Destination, dests)
		for j := range vs.Destinations {
			vs.Destinations[j] = Destination{DestKey: DestKey{Address: addrN(198, 51, 100, (i+j)%250), Port: uint16(8000 + j)}, Forward: ForwardDR, Weight: 1}
		}
	}
	return t
}

func addrN(a, b, c byte, d int) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, byte(1 + d)}) }

// BenchmarkDiffWeightChange is the pure part of a weight change on a
// 10,000×4 table: the diff (the Reconciler's cost besides the one
// request).
func BenchmarkDiffWeightChange(b *testing.B) {
	observed, desired := bigTable(10000, 4), bigTable(10000, 4)
	ix := newIndex(normalizedCopy(observed))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		desired[i%len(desired)].Destinations[0].Weight = 2
		if ops, _ := diff(ix, desired, nil); len(ops) != 1 {
			b.Fatalf("%d ops", len(ops))
		}
		desired[i%len(desired)].Destinations[0].Weight = 1
	}
}

// BenchmarkEncode is the cost of building the requests of a 10,000×4
// table from empty (50,000 operations).
func BenchmarkEncode(b *testing.B) {
	ops := Diff(nil, bigTable(10000, 4), nil)
	var e enc
	b.ReportAllocs()
	for b.Loop() {
		for _, op := range ops {
			e.b = e.b[:0]
			e.request(op)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ops)), "ns/request")
}

// BenchmarkApplyOverFakeSocket measures the client's own cost of applying
// 50,000 operations (encoding, batching, reading acks) against a socket
// that answers instantly.
func BenchmarkApplyOverFakeSocket(b *testing.B) {
	ops := Diff(nil, bigTable(10000, 4), nil)
	ks := &kernelSocket{fn: genltest.ServeFamily(ipvsFamily, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) { return nil, nil })}
	c, err := newClient(netlink.NewConn(ks, nltest.PID), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ks.datagrams = ks.datagrams[:0]
		if _, err := c.Apply(ops); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApply10kx4 applies a 10,000-service × 4-destination table to
// an empty kernel table (50,000 requests) and, for comparison, restores
// the same table with ipvsadm -R (metric ipvsadm-R-ns). Privileged: run
// it in the kernel lab,
//
//	go run ./tools/kernellab test -run '^$' -bench Apply10kx4 ./agent/ipvs -- -test.benchtime=1x
//
// In the lab's emulated (TCG) VM with kernel 6.1 it took 8.0 s against
// ipvsadm -R's 106 s.
func BenchmarkApply10kx4(b *testing.B) { benchmarkApply(b, 10000, 4) }

// BenchmarkApply1kx4 is BenchmarkApply10kx4 at a tenth of the size, for a
// quick comparison in the emulated lab.
func BenchmarkApply1kx4(b *testing.B) { benchmarkApply(b, 1000, 4) }

// benchmarkApply applies the table in a fresh namespace each time: a
// flushed table leaves its destinations in the kernel's trash for a
// while, and every destination created meanwhile searches it.
func benchmarkApply(b *testing.B, services, dests int) {
	ipvsReady(b)
	table := bigTable(services, dests)
	var ipvsadm time.Duration
	if _, err := exec.LookPath("ipvsadm"); err == nil {
		ns := newNS(b)
		start := time.Now()
		out, err := ns.execStdin(table.Save(), "ipvsadm", "-R")
		if err != nil {
			b.Fatalf("ipvsadm -R: %v\n%s", err, out)
		}
		ipvsadm = time.Since(start)
	}
	for b.Loop() {
		b.StopTimer()
		c := newNS(b).client(b)
		b.StartTimer()
		applied, err := Reconcile(c, table, nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(applied) != services*(1+dests) {
			b.Fatalf("applied %d ops", len(applied))
		}
	}
	b.StopTimer()
	if ipvsadm > 0 {
		b.ReportMetric(float64(ipvsadm.Nanoseconds()), "ipvsadm-R-ns")
	}
}

// BenchmarkWeightChange changes one destination's weight on a 10,000×4
// table: through a Reconciler that keeps the table (the agent's path),
// and through Reconcile, which reads the whole table first. In the lab's
// emulated VM: 19 ms and 32 s; BenchmarkWeightChangeOverFakeSocket, the
// same cached path without the kernel, takes about 0.5 ms natively.
func BenchmarkWeightChange(b *testing.B) {
	ipvsReady(b)
	ns := newNS(b)
	c := ns.client(b)
	table := bigTable(10000, 4)
	if _, err := Reconcile(c, table, nil); err != nil {
		b.Fatal(err)
	}
	flip := func(i int) {
		d := &table[(i*7919)%len(table)].Destinations[i%4]
		d.Weight = 3 - d.Weight // 1 <-> 2
	}
	b.Run("cached", func(b *testing.B) {
		r := NewReconciler(c, nil)
		if _, err := r.Reconcile(table); err != nil { // the one full read
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			flip(i)
			if applied, err := r.Reconcile(table); err != nil || len(applied) != 1 {
				b.Fatalf("applied %v, %v", applied, err)
			}
		}
	})
	b.Run("full-read", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			flip(i)
			if applied, err := Reconcile(c, table, nil); err != nil || len(applied) != 1 {
				b.Fatalf("applied %v, %v", applied, err)
			}
		}
	})
}

// execStdin runs a command inside the namespace with input on stdin.
func (ns *testNS) execStdin(stdin, name string, args ...string) (string, error) {
	var out []byte
	var err error
	onThread(func() {
		if err = netns.Set(ns.h); err != nil {
			return
		}
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Stderr = os.Stderr
		out, err = cmd.Output()
	})
	return string(out), err
}

// BenchmarkWeightChangeOverFakeSocket is BenchmarkWeightChange's cached
// case with everything but the kernel: the Reconciler, the client's
// encoding and the netlink round trip to a socket that answers at once.
func BenchmarkWeightChangeOverFakeSocket(b *testing.B) {
	f := NewFake()
	ks := &kernelSocket{}
	ks.fn = genltest.ServeFamily(ipvsFamily, fakeKernel(b, f))
	c, err := newClient(netlink.NewConn(ks, nltest.PID), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	table := bigTable(10000, 4)
	r := NewReconciler(c, nil)
	if _, err := r.Reconcile(table); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d := &table[(i*7919)%len(table)].Destinations[i%4]
		d.Weight = 3 - d.Weight
		ks.datagrams = ks.datagrams[:0]
		if applied, err := r.Reconcile(table); err != nil || len(applied) != 1 {
			b.Fatalf("applied %v, %v", applied, err)
		}
	}
}

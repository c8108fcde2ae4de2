package ipvs

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// -update rewrites testdata/ipvsadm-save.golden from what ipvsadm -Sn
// prints in the kernel lab (TestPrivilegedGolden); the unit tests only
// compare against it, so the golden file stays the kernel's word.
var update = flag.Bool("update", false, "rewrite testdata/*.golden from the kernel (privileged tests)")

// addrs lets cmp compare netip.Addr values.
var addrs = cmpopts.EquateComparable(netip.Addr{})

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func tcp(a string, port uint16) ServiceKey {
	return ServiceKey{Protocol: ProtocolTCP, Address: addr(a), Port: port}
}

func dest(a string, port uint16, fwd ForwardMethod, w int) Destination {
	return Destination{DestKey: DestKey{Address: addr(a), Port: port}, Forward: fwd, Weight: w}
}

// fixture is a table with every kind of entry the package models; the
// kernel lab builds it and compares ipvsadm -Sn with the golden file.
func fixture() Table {
	return Table{
		{Service: Service{ServiceKey: tcp("192.0.2.10", 80), Scheduler: "rr"}, Destinations: []Destination{
			dest("198.51.100.1", 8080, ForwardNAT, 1),
			{DestKey: DestKey{Address: addr("198.51.100.2"), Port: 8080}, Forward: ForwardNAT, Weight: 2, UpperThreshold: 100, LowerThreshold: 10},
		}},
		{Service: Service{ServiceKey: ServiceKey{Protocol: ProtocolUDP, Address: addr("192.0.2.10"), Port: 53}, Scheduler: "wrr", Flags: FlagOnePacket},
			Destinations: []Destination{dest("198.51.100.3", 53, ForwardDR, 5)}},
		{Service: Service{ServiceKey: ServiceKey{Protocol: ProtocolSCTP, Address: addr("192.0.2.10"), Port: 3868}},
			Destinations: []Destination{dest("198.51.100.4", 3868, ForwardTunnel, 1)}},
		{Service: Service{ServiceKey: tcp("192.0.2.11", 443), Scheduler: "sh", Flags: FlagPersistent | FlagSHFallback | FlagSHPort, Timeout: 600, Netmask: 24},
			Destinations: []Destination{dest("198.51.100.6", 443, ForwardNAT, 1), dest("198.51.100.5", 443, ForwardNAT, 1)}},
		{Service: Service{ServiceKey: tcp("192.0.2.12", 80), Scheduler: "mh", Flags: FlagMHPort},
			Destinations: []Destination{dest("198.51.100.7", 80, ForwardDR, 3)}},
		{Service: Service{ServiceKey: tcp("2001:db8::10", 80), Flags: FlagPersistent, Timeout: 300, Netmask: 64},
			Destinations: []Destination{dest("2001:db8::1", 80, ForwardNAT, 1), dest("2001:db8::2", 80, ForwardDR, 1)}},
		{Service: Service{ServiceKey: ServiceKey{FWMark: 5}},
			Destinations: []Destination{dest("198.51.100.8", 0, ForwardDR, 1)}},
		{Service: Service{ServiceKey: ServiceKey{Family: FamilyIPv6, FWMark: 6}, Scheduler: "rr"},
			Destinations: []Destination{dest("2001:db8::5", 0, ForwardTunnel, 1)}},
	}
}

func readGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSaveMatchesIpvsadm(t *testing.T) {
	want := readGolden(t, "ipvsadm-save.golden")
	if diff := cmp.Diff(want, fixture().Save(), addrs); diff != "" {
		t.Errorf("Save() differs from ipvsadm -Sn (-want +got):\n%s", diff)
	}
}

func TestKeyString(t *testing.T) {
	for _, tc := range []struct {
		k    ServiceKey
		want string
	}{
		{tcp("192.0.2.10", 80), "TCP 192.0.2.10:80"},
		{ServiceKey{Protocol: ProtocolUDP, Address: addr("2001:db8::10"), Port: 53}, "UDP [2001:db8::10]:53"},
		{ServiceKey{Protocol: ProtocolSCTP, Address: addr("::ffff:192.0.2.1"), Port: 9}, "SCTP 192.0.2.1:9"},
		{ServiceKey{FWMark: 5, Protocol: ProtocolTCP, Port: 80}, "FWM 5"},
		{ServiceKey{Family: FamilyIPv6, FWMark: 5}, "FWM 5 IPv6"},
	} {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.k, got, tc.want)
		}
	}
}

func TestOpString(t *testing.T) {
	web := Service{ServiceKey: tcp("192.0.2.10", 80), Scheduler: "rr"}
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{Op{Kind: OpCreateService, Service: web}, "-A -t 192.0.2.10:80 -s rr"},
		{Op{Kind: OpCreateService, Service: Service{ServiceKey: tcp("192.0.2.10", 80)}}, "-A -t 192.0.2.10:80 -s wlc"},
		{Op{Kind: OpUpdateService, Service: Service{ServiceKey: tcp("192.0.2.10", 80), Scheduler: "sh", Flags: FlagPersistent | FlagSched1, Timeout: 60, Netmask: 16}},
			"-E -t 192.0.2.10:80 -s sh -p 60 -M 255.255.0.0 -b sh-fallback"},
		{Op{Kind: OpUpdateService, Service: Service{ServiceKey: tcp("192.0.2.10", 80), Scheduler: "wrr", Flags: FlagSched3 | FlagSched1}},
			"-E -t 192.0.2.10:80 -s wrr -b flag-1,flag-3"},
		{Op{Kind: OpRemoveService, Service: web}, "-D -t 192.0.2.10:80"},
		{Op{Kind: OpRemoveService, Service: Service{ServiceKey: ServiceKey{Family: FamilyIPv6, FWMark: 7}}}, "-D -f 7 -6"},
		{Op{Kind: OpCreateDestination, Service: web, Dest: dest("198.51.100.1", 80, ForwardNAT, 3)},
			"-a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 3"},
		{Op{Kind: OpUpdateDestination, Service: web, Dest: Destination{DestKey: DestKey{addr("198.51.100.1"), 80}, Forward: ForwardDR, Weight: 0, UpperThreshold: 50, LowerThreshold: 5}},
			"-e -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 0 -x 50 -y 5"},
		{Op{Kind: OpCreateDestination, Service: Service{ServiceKey: ServiceKey{Protocol: ProtocolUDP, Address: addr("2001:db8::1"), Port: 53}}, Dest: dest("2001:db8::2", 53, ForwardTunnel, 1)},
			"-a -u [2001:db8::1]:53 -r [2001:db8::2]:53 -i -w 1"},
		{Op{Kind: OpRemoveDestination, Service: web, Dest: dest("198.51.100.1", 80, ForwardNAT, 3)},
			"-d -t 192.0.2.10:80 -r 198.51.100.1:80"},
	} {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("%s: String() = %q, want %q", tc.op.Kind, got, tc.want)
		}
	}
}

func TestDiff(t *testing.T) {
	web := Service{ServiceKey: tcp("192.0.2.10", 80), Scheduler: "rr"}
	webN := web.Normalize()
	a, b, c := dest("198.51.100.1", 80, ForwardNAT, 1), dest("198.51.100.2", 80, ForwardNAT, 1), dest("198.51.100.3", 80, ForwardNAT, 1)
	heavy := b
	heavy.Weight = 5
	hand := Service{ServiceKey: tcp("192.0.2.99", 22), Scheduler: "rr"}
	all := func(ServiceKey) bool { return true }
	none := func(ServiceKey) bool { return false }
	many := func(n int) []Destination {
		ds := make([]Destination, n)
		for i := range ds {
			ds[i] = dest("198.51.100.1", uint16(1000+i), ForwardDR, 1)
		}
		return ds
	}
	manyHeavy := many(40)
	manyHeavy[33].Weight = 7

	for _, tc := range []struct {
		name              string
		observed, desired Table
		owned             func(ServiceKey) bool
		want              []Op
	}{
		{name: "empty"},
		{
			name:    "create from empty, service before its destinations",
			desired: Table{{Service: web, Destinations: []Destination{a, b}}},
			want: []Op{
				{Kind: OpCreateService, Service: webN},
				{Kind: OpCreateDestination, Service: webN, Dest: a},
				{Kind: OpCreateDestination, Service: webN, Dest: b},
			},
		},
		{
			name:     "identical",
			observed: Table{{Service: webN, Destinations: []Destination{a, b}}},
			desired:  Table{{Service: web, Destinations: []Destination{b, a}}},
			owned:    all,
		},
		{
			name:     "weight change is one update",
			observed: Table{{Service: webN, Destinations: []Destination{a, b}}},
			desired:  Table{{Service: web, Destinations: []Destination{a, heavy}}},
			want:     []Op{{Kind: OpUpdateDestination, Service: webN, Dest: heavy}},
		},
		{
			name:     "weight change among many destinations",
			observed: Table{{Service: webN, Destinations: many(40)}},
			desired:  Table{{Service: web, Destinations: manyHeavy}},
			want:     []Op{{Kind: OpUpdateDestination, Service: webN, Dest: manyHeavy[33]}},
		},
		{
			name:     "scheduler change updates in place",
			observed: Table{{Service: webN, Destinations: []Destination{a}}},
			desired:  Table{{Service: Service{ServiceKey: web.ServiceKey, Scheduler: "wlc", Flags: FlagPersistent, Timeout: 300}, Destinations: []Destination{a}}},
			want:     []Op{{Kind: OpUpdateService, Service: Service{ServiceKey: web.ServiceKey, Scheduler: "wlc", Flags: FlagPersistent, Timeout: 300}.Normalize()}},
		},
		{
			name:     "replaced destinations: creates before removals",
			observed: Table{{Service: webN, Destinations: []Destination{a, b}}},
			desired:  Table{{Service: web, Destinations: []Destination{c}}},
			want: []Op{
				{Kind: OpCreateDestination, Service: webN, Dest: c},
				{Kind: OpRemoveDestination, Service: webN, Dest: a},
				{Kind: OpRemoveDestination, Service: webN, Dest: b},
			},
		},
		{
			name:     "owned service removed with its destinations, first",
			observed: Table{{Service: webN, Destinations: []Destination{a, b}}},
			desired:  Table{{Service: hand}},
			owned:    all,
			want: []Op{
				{Kind: OpRemoveService, Service: webN},
				{Kind: OpCreateService, Service: hand.Normalize()},
			},
		},
		{
			name:     "service not owned is left alone",
			observed: Table{{Service: hand.Normalize(), Destinations: []Destination{a}}, {Service: webN}},
			desired:  Table{{Service: web, Destinations: []Destination{b}}},
			owned:    func(k ServiceKey) bool { return k != hand.ServiceKey.Normalize() },
			want:     []Op{{Kind: OpCreateDestination, Service: webN, Dest: b}},
		},
		{
			name:     "owns nothing",
			observed: Table{{Service: hand.Normalize()}},
			owned:    none,
		},
		{
			name:     "nil owned owns everything",
			observed: Table{{Service: hand.Normalize()}},
			want:     []Op{{Kind: OpRemoveService, Service: hand.Normalize()}},
		},
		{
			name:     "key change is remove and create",
			observed: Table{{Service: webN, Destinations: []Destination{a}}},
			desired:  Table{{Service: Service{ServiceKey: tcp("192.0.2.10", 8080), Scheduler: "rr"}, Destinations: []Destination{a}}},
			owned:    all,
			want: []Op{
				{Kind: OpRemoveService, Service: webN},
				{Kind: OpCreateService, Service: Service{ServiceKey: tcp("192.0.2.10", 8080), Scheduler: "rr", Netmask: 32}.Normalize()},
				{Kind: OpCreateDestination, Service: Service{ServiceKey: tcp("192.0.2.10", 8080), Scheduler: "rr"}.Normalize(), Dest: a},
			},
		},
		{
			name: "defaults and spellings compare equal to what the kernel reports",
			observed: Table{
				{Service: Service{ServiceKey: ServiceKey{Family: FamilyIPv4, FWMark: 9}, Scheduler: "wlc", Netmask: 32}, Destinations: []Destination{a}},
				{Service: Service{ServiceKey: ServiceKey{Family: FamilyIPv4, Protocol: ProtocolUDP, Address: addr("192.0.2.1"), Port: 53}, Scheduler: "wlc", Netmask: 32}},
			},
			desired: Table{
				{Service: Service{ServiceKey: ServiceKey{FWMark: 9, Protocol: ProtocolTCP, Address: addr("192.0.2.1"), Port: 80}, Flags: FlagHashed},
					Destinations: []Destination{{DestKey: DestKey{Address: addr("::ffff:198.51.100.1"), Port: 80}, Weight: 1}}},
				{Service: Service{ServiceKey: ServiceKey{Protocol: ProtocolUDP, Address: addr("::ffff:192.0.2.1"), Port: 53}}},
			},
			owned: all,
		},
		{
			name:     "a key named twice counts once",
			observed: Table{{Service: webN}},
			desired: Table{
				{Service: web, Destinations: []Destination{a, a}},
				{Service: Service{ServiceKey: web.ServiceKey, Scheduler: "sh"}},
				{Service: hand}, {Service: hand, Destinations: []Destination{b}},
			},
			want: []Op{
				{Kind: OpCreateDestination, Service: webN, Dest: a},
				{Kind: OpCreateService, Service: hand.Normalize()},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(tc.observed, tc.desired, tc.owned)
			if diff := cmp.Diff(tc.want, got, addrs); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
			// Applying the diff to the observed table reaches desired.
			ix := newIndex(normalizedCopy(tc.observed))
			for _, op := range got {
				ix.apply(op)
			}
			if again, _ := diff(ix, tc.desired, tc.owned); len(again) != 0 {
				t.Errorf("after applying the diff, Diff still wants %v", again)
			}
		})
	}
}

func cloneTable(t Table) Table {
	out := make(Table, len(t))
	for i := range t {
		out[i] = VirtualService{Service: t[i].Service, Destinations: append([]Destination(nil), t[i].Destinations...)}
	}
	return out
}

// normalized is how the kernel reports t: sorted, defaults filled in.
func normalized(t Table) Table {
	out := cloneTable(t)
	for i := range out {
		out[i].Service = out[i].Service.Normalize()
		for j := range out[i].Destinations {
			out[i].Destinations[j] = out[i].Destinations[j].Normalize()
		}
	}
	sortTable(out)
	return out
}

func TestReconcileFake(t *testing.T) {
	f := NewFake()
	want := fixture()
	applied, err := Reconcile(f, want, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Diff(nil, want, nil), applied, addrs); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(normalized(want), f.Table(), addrs); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	f.ResetCalls()
	applied, err = Reconcile(f, want, nil)
	if err != nil || len(applied) != 0 {
		t.Errorf("second Reconcile applied %v, %v; want nothing", applied, err)
	}
	// One dump of the services and one of each service's destinations.
	reads := map[string]int{}
	for _, c := range f.Calls() {
		reads[c.Method]++
	}
	if diff := cmp.Diff(map[string]int{"Services": 1, "Destinations": len(want)}, reads, addrs); diff != "" {
		t.Errorf("calls of the second Reconcile (-want +got):\n%s", diff)
	}
}

func TestReconcileLeavesHandMadeServiceAlone(t *testing.T) {
	f := NewFake()
	hand := Service{ServiceKey: tcp("192.0.2.99", 22), Scheduler: "rr"}
	if err := f.CreateService(hand); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateDestination(hand.ServiceKey, dest("198.51.100.99", 22, ForwardDR, 1)); err != nil {
		t.Fatal(err)
	}
	mine := map[ServiceKey]bool{}
	for _, vs := range fixture() {
		mine[vs.ServiceKey.Normalize()] = true
	}
	owned := func(k ServiceKey) bool { return mine[k] }
	if _, err := Reconcile(f, fixture(), owned); err != nil {
		t.Fatal(err)
	}
	// Drop one of ours: only it goes.
	smaller := fixture()[1:]
	applied, err := Reconcile(f, smaller, owned)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Op{{Kind: OpRemoveService, Service: fixture()[0].Service.Normalize()}}, applied, addrs); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	wantTable := normalized(append(smaller, VirtualService{Service: hand, Destinations: []Destination{dest("198.51.100.99", 22, ForwardDR, 1)}}))
	if diff := cmp.Diff(wantTable, f.Table(), addrs); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if applied, err := Reconcile(f, smaller, owned); err != nil || len(applied) != 0 {
		t.Errorf("third Reconcile applied %v, %v; want nothing", applied, err)
	}
}

func TestReconcileInvalidServiceLeftAlone(t *testing.T) {
	f := NewFake()
	web := Service{ServiceKey: tcp("192.0.2.10", 80), Scheduler: "rr"}
	other := Service{ServiceKey: tcp("192.0.2.20", 80), Scheduler: "rr"}
	if _, err := Reconcile(f, Table{{Service: web, Destinations: []Destination{dest("198.51.100.1", 80, ForwardNAT, 1)}}}, nil); err != nil {
		t.Fatal(err)
	}
	// A negative weight is refused: web keeps its working destination,
	// the valid rest of the table is still applied.
	bad := dest("198.51.100.1", 80, ForwardNAT, -1)
	applied, err := Reconcile(f, Table{{Service: web, Destinations: []Destination{bad}}, {Service: other}}, nil)
	if err == nil || !strings.Contains(err.Error(), "weight -1 out of range") {
		t.Errorf("err = %v, want the weight named", err)
	}
	if diff := cmp.Diff([]Op{{Kind: OpCreateService, Service: other.Normalize()}}, applied, addrs); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	want := normalized(Table{{Service: web, Destinations: []Destination{dest("198.51.100.1", 80, ForwardNAT, 1)}}, {Service: other}})
	if diff := cmp.Diff(want, f.Table(), addrs); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestReconcileFailureReported(t *testing.T) {
	f := NewFake()
	boom := errors.New("boom")
	f.FailNext(OpCreateDestination, boom)
	applied, err := Reconcile(f, fixture(), nil)
	var ae *ApplyError
	if !errors.As(err, &ae) || len(ae.Failed) != 1 || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want one failed op wrapping boom", err)
	}
	if ae.Failed[0].Op.Kind != OpCreateDestination || !strings.Contains(err.Error(), "1 of 19 operations failed: -a -t 192.0.2.10:80 -r 198.51.100.1:8080 -m -w 1: boom") {
		t.Errorf("err = %q", err)
	}
	if len(applied) != 18 {
		t.Errorf("applied %d ops, want the other 18", len(applied))
	}
	applied, err = Reconcile(f, fixture(), nil)
	if err != nil || len(applied) != 1 {
		t.Errorf("next Reconcile applied %v, %v; want the failed one", applied, err)
	}
}

func TestReconcilerKeepsTheTable(t *testing.T) {
	f := NewFake()
	r := NewReconciler(f, nil)
	table := fixture()
	if _, err := r.Reconcile(table); err != nil {
		t.Fatal(err)
	}
	f.ResetCalls()
	table[0].Destinations[1].Weight = 9
	applied, err := r.Reconcile(table)
	if err != nil {
		t.Fatal(err)
	}
	want := []Call{{Method: "UpdateDestination", Op: Op{Kind: OpUpdateDestination, Service: Service{ServiceKey: table[0].ServiceKey.Normalize()}, Dest: table[0].Destinations[1]}}}
	if diff := cmp.Diff(want, f.Calls(), addrs); diff != "" {
		t.Errorf("calls of a weight change: no reads, one write (-want +got):\n%s", diff)
	}
	if len(applied) != 1 {
		t.Errorf("applied %v", applied)
	}

	// A change behind its back goes unnoticed until Invalidate.
	if err := f.RemoveService(table[1].ServiceKey); err != nil {
		t.Fatal(err)
	}
	if applied, err := r.Reconcile(table); err != nil || len(applied) != 0 {
		t.Errorf("cached Reconcile applied %v, %v", applied, err)
	}
	r.Invalidate()
	applied, err = r.Reconcile(table)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 || applied[0].Kind != OpCreateService {
		t.Errorf("after Invalidate applied %v, want the service and its destination back", applied)
	}
	if diff := cmp.Diff(normalized(table), f.Table(), addrs); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}

	// After a failure it reads again.
	f.FailNext(OpUpdateDestination, errors.New("boom"))
	table[0].Destinations[0].Weight = 4
	if _, err := r.Reconcile(table); err == nil {
		t.Fatal("no error")
	}
	f.ResetCalls()
	if _, err := r.Reconcile(table); err != nil {
		t.Fatal(err)
	}
	if c := f.Calls(); len(c) == 0 || c[0].Method != "Services" {
		t.Errorf("after a failure the table was not read again: %v", c)
	}
	if diff := cmp.Diff(normalized(table), f.Table(), addrs); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestRead(t *testing.T) {
	f := NewFake()
	if _, err := Reconcile(f, fixture(), nil); err != nil {
		t.Fatal(err)
	}
	k := tcp("192.0.2.10", 80)
	st := Stats{Connections: 7, PacketsIn: 70, BytesIn: 7000, CPS: 1}
	if err := f.SetServiceStats(k, st); err != nil {
		t.Fatal(err)
	}
	di := DestinationInfo{Destination: dest("198.51.100.1", 8080, ForwardNAT, 1), ActiveConns: 3, InactiveConns: 4, Stats: st}
	if err := f.SetDestinationCounters(k, di); err != nil {
		t.Fatal(err)
	}
	table, svcs, dests, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(normalized(fixture()), table, addrs); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if len(svcs) != len(fixture()) || svcs[0].ServiceKey != k.Normalize() || svcs[0].Stats != st {
		t.Errorf("services = %+v", svcs)
	}
	if diff := cmp.Diff(di, dests[k.Normalize()][0], addrs); diff != "" {
		t.Errorf("destination counters (-want +got):\n%s", diff)
	}
}

func TestFakeErrorsMatchTheKernels(t *testing.T) {
	f := NewFake()
	web := Service{ServiceKey: tcp("192.0.2.10", 80)}
	d := dest("198.51.100.1", 80, ForwardNAT, 1)
	for _, tc := range []struct {
		name   string
		call   func() error
		target error
	}{
		{"update missing service", func() error { return f.UpdateService(web) }, fs.ErrNotExist},
		{"create service", func() error { return f.CreateService(web) }, nil},
		{"create it again", func() error { return f.CreateService(web) }, fs.ErrExist},
		{"unknown scheduler", func() error { return f.CreateService(Service{ServiceKey: tcp("192.0.2.1", 1), Scheduler: "nope"}) }, ErrUnknownScheduler},
		{"remove missing destination", func() error { return f.RemoveDestination(web.ServiceKey, d.DestKey) }, fs.ErrNotExist},
		{"destination of missing service", func() error { return f.CreateDestination(tcp("192.0.2.2", 1), d) }, fs.ErrNotExist},
		{"create destination", func() error { return f.CreateDestination(web.ServiceKey, d) }, nil},
		{"create it again", func() error { return f.CreateDestination(web.ServiceKey, d) }, fs.ErrExist},
	} {
		err := tc.call()
		if tc.target == nil && err != nil || tc.target != nil && !errors.Is(err, tc.target) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.target)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		vs   VirtualService
		want string // in the error; "" valid
	}{
		{fixture()[0], ""},
		{VirtualService{Service: Service{ServiceKey: ServiceKey{Protocol: ProtocolTCP, Port: 80}}}, "needs an address or a fwmark"},
		{VirtualService{Service: Service{ServiceKey: ServiceKey{Family: FamilyIPv6, Protocol: ProtocolTCP, Address: addr("192.0.2.1")}}}, "not of family"},
		{VirtualService{Service: Service{ServiceKey: ServiceKey{Protocol: 47, Address: addr("192.0.2.1")}}}, "protocol 47"},
		{VirtualService{Service: Service{ServiceKey: tcp("192.0.2.1", 1), Scheduler: "a-very-long-scheduler"}}, "bad scheduler name"},
		{VirtualService{Service: Service{ServiceKey: tcp("192.0.2.1", 1), Netmask: 33}}, "netmask /33"},
		{VirtualService{Service: Service{ServiceKey: ServiceKey{FWMark: 1, Family: 7}}}, "neither IPv4 nor IPv6"},
		{VirtualService{Service: Service{ServiceKey: tcp("192.0.2.1", 1)}, Destinations: []Destination{{}}}, "without an address"},
		{VirtualService{Service: Service{ServiceKey: tcp("192.0.2.1", 1)}, Destinations: []Destination{dest("2001:db8::1", 1, ForwardNAT, 1)}}, "needs tunnel"},
		{VirtualService{Service: Service{ServiceKey: tcp("192.0.2.1", 1)}, Destinations: []Destination{dest("2001:db8::1", 1, ForwardTunnel, 1)}}, ""},
		{VirtualService{Service: Service{ServiceKey: tcp("192.0.2.1", 1)}, Destinations: []Destination{dest("192.0.2.2", 1, 9, 1)}}, "forwarding method 9"},
		{VirtualService{Service: Service{ServiceKey: tcp("192.0.2.1", 1)}, Destinations: []Destination{{DestKey: DestKey{addr("192.0.2.2"), 1}, LowerThreshold: 5}}}, "lower threshold 5 above upper 0"},
	} {
		err := tc.vs.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.vs.ServiceKey, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want %q", tc.vs.ServiceKey, err, tc.want)
		}
	}
}

// TestReconcilerIncremental drives a Reconciler through random changes of
// the desired table and checks each round against a full Diff of the
// kernel's (the Fake's) table: the incremental path must decide the same.
func TestReconcilerIncremental(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	f := NewFake()
	hand := Service{ServiceKey: tcp("192.0.2.250", 22), Scheduler: "rr"}
	if err := f.CreateService(hand); err != nil {
		t.Fatal(err)
	}
	owned := func(k ServiceKey) bool { return k != hand.ServiceKey.Normalize() }
	r := NewReconciler(f, owned)
	desired := cloneTable(fixture())
	newDest := func(vs *VirtualService) Destination {
		a := fmt.Sprintf("198.51.100.%d", 1+rng.IntN(20))
		if vs.Service.Normalize().Family == FamilyIPv6 {
			a = fmt.Sprintf("2001:db8::%d", 1+rng.IntN(20))
		}
		return dest(a, uint16(80+rng.IntN(3)), ForwardMethod(rng.IntN(4)), rng.IntN(5))
	}
	incremental := 0
	for round := range 300 {
		i := rng.IntN(len(desired))
		vs := &desired[i]
		switch n := rng.IntN(20); {
		case n < 9:
			if len(vs.Destinations) > 0 {
				vs.Destinations[rng.IntN(len(vs.Destinations))].Weight = rng.IntN(5)
			}
		case n < 11:
			vs.Destinations = append(vs.Destinations, newDest(vs))
		case n < 13:
			if len(vs.Destinations) > 0 {
				vs.Destinations = slices.Delete(slices.Clone(vs.Destinations), 0, 1)
			}
		case n < 14:
			vs.Scheduler = []string{"rr", "wlc", "sh", ""}[rng.IntN(4)]
		case n < 15:
			desired = append(desired, VirtualService{Service: Service{ServiceKey: tcp("192.0.2.100", uint16(round))}})
			desired[len(desired)-1].Destinations = []Destination{newDest(&desired[len(desired)-1])}
		case n < 16:
			if len(desired) > 1 {
				desired = slices.Delete(desired, i, i+1)
			}
		case n < 17:
			vs.Destinations = append(slices.Clone(vs.Destinations), dest("198.51.100.1", 1, ForwardNAT, -1)) // invalid
		default: // the invalid ones go, if any
			for j := range desired {
				desired[j].Destinations = slices.DeleteFunc(slices.Clone(desired[j].Destinations), func(d Destination) bool { return d.Weight < 0 })
			}
		}
		valid, own, _ := validTable(desired, owned)
		want := Diff(f.Table(), valid, own)
		if r.prev != nil && len(r.prev) == len(desired) {
			incremental++
		}
		got, err := r.Reconcile(cloneTable(desired))
		if err != nil && !strings.Contains(err.Error(), "invalid") {
			t.Fatalf("round %d: %v", round, err)
		}
		key := func(a, b Op) int { return strings.Compare(a.String()+a.Kind.String(), b.String()+b.Kind.String()) }
		slices.SortFunc(want, key)
		slices.SortFunc(got, key)
		if diff := cmp.Diff(want, got, addrs); diff != "" {
			t.Fatalf("round %d: applied (-full diff +reconciler):\n%s", round, diff)
		}
		if left := Diff(f.Table(), valid, own); len(left) != 0 {
			t.Fatalf("round %d: after reconciling, still %v", round, left)
		}
	}
	if incremental < 100 {
		t.Errorf("only %d of 300 rounds took the incremental path", incremental)
	}
	t.Logf("%d of 300 rounds incremental", incremental)
}

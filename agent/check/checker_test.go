package check

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/droverha/drover/model"
)

// addrs lets go-cmp compare netip values, whose fields are unexported.
var addrs = cmpopts.EquateComparable(netip.AddrPort{}, netip.Addr{})

// t0 is the checker's clock in these tests: a fixed instant, so statuses
// compare whole.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// scripted is a probe whose outcomes the test sends, one per probe, on a
// channel per address. A probe blocks until the test decides it, so the
// test steps each loop probe by probe whatever the scheduling.
type scripted struct {
	mu      sync.Mutex
	results map[netip.AddrPort]chan Result
	stopped chan netip.AddrPort    // a probe ended by its loop's end
	waiting map[netip.AddrPort]int // probes under way; guarded by mu
	wake    chan struct{}          // closed when waiting changes; guarded by mu
}

func newScripted() *scripted {
	return &scripted{
		results: map[netip.AddrPort]chan Result{},
		stopped: make(chan netip.AddrPort, 100),
		waiting: map[netip.AddrPort]int{},
		wake:    make(chan struct{}),
	}
}

func (s *scripted) ch(a netip.AddrPort) chan Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.results[a] == nil {
		s.results[a] = make(chan Result)
	}
	return s.results[a]
}

func (s *scripted) probe(ctx context.Context, target netip.AddrPort, _ model.Check) Result {
	s.under(target, +1)
	defer s.under(target, -1)
	select {
	case r := <-s.ch(target):
		return r
	case <-ctx.Done():
		if ctx.Err() == context.Canceled {
			s.stopped <- target
		}
		return Result{Reason: "canceled"}
	}
}

func (s *scripted) under(a netip.AddrPort, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting[a] += d
	close(s.wake)
	s.wake = make(chan struct{})
}

// waitProbing waits until a probe of each of addrs is under way.
func (s *scripted) waitProbing(t *testing.T, addrs ...netip.AddrPort) {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		s.mu.Lock()
		all := true
		for _, a := range addrs {
			all = all && s.waiting[a] > 0
		}
		wake := s.wake
		s.mu.Unlock()
		if all {
			return
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("no probe of all of %v under way", addrs)
		}
	}
}

// send decides the next probes of a.
func (s *scripted) send(t *testing.T, a netip.AddrPort, rs ...Result) {
	t.Helper()
	for _, r := range rs {
		select {
		case s.ch(a) <- r:
		case <-time.After(testTimeout):
			t.Fatalf("no probe of %v took a result", a)
		}
	}
}

var (
	ok   = Result{Healthy: true, Reason: "fine"}
	fail = Result{Reason: "broken"}
)

// target is a check whose loop probes as fast as the test decides, and
// whose probes never time out on their own.
func target(addr string, rise, fall int) Target {
	return Target{
		Address: netip.MustParseAddrPort(addr),
		Check:   model.Check{Kind: "tcp", Interval: time.Millisecond, Timeout: time.Minute, Rise: rise, Fall: fall},
	}
}

func withDefaults(t Target) Target { t.Check = WithDefaults(t.Check); return t }

func newTestChecker(t *testing.T, s *scripted) (*Checker, chan Status) {
	t.Helper()
	changes := make(chan Status, 100)
	c := New(Options{Probe: s.probe, Now: func() time.Time { return t0 }, OnChange: func(st Status) { changes <- st }})
	t.Cleanup(c.Close)
	return c, changes
}

func TestCheckerRiseFall(t *testing.T) {
	s := newScripted()
	c, changes := newTestChecker(t, s)
	tg := target("192.0.2.1:80", 2, 3)
	c.Set([]Target{tg})

	if diff := cmp.Diff([]Status{{Target: withDefaults(tg), Since: t0}}, c.Statuses(), addrs); diff != "" {
		t.Errorf("a new target is not unknown (-want +got):\n%s", diff)
	}
	s.send(t, tg.Address, ok, ok)
	want := Status{Target: withDefaults(tg), Healthy: true, Known: true, Reason: "fine", Since: t0, LastProbe: t0, Successes: 2}
	if diff := cmp.Diff(want, recv(t, changes), addrs); diff != "" {
		t.Errorf("after rise successes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Status{want}, c.Statuses(), addrs); diff != "" {
		t.Errorf("Statuses after the change (-want +got):\n%s", diff)
	}
	// Two failures and a success stay healthy; fall failures in a row do not.
	s.send(t, tg.Address, fail, fail, ok, fail, fail, fail)
	want = Status{Target: withDefaults(tg), Healthy: false, Known: true, Reason: "broken", Since: t0, LastProbe: t0, Failures: 3}
	if diff := cmp.Diff(want, recv(t, changes), addrs); diff != "" {
		t.Errorf("after fall failures (-want +got):\n%s", diff)
	}
	// One success is not rise.
	s.send(t, tg.Address, ok, fail, ok, ok)
	want = Status{Target: withDefaults(tg), Healthy: true, Known: true, Reason: "fine", Since: t0, LastProbe: t0, Successes: 2}
	if diff := cmp.Diff(want, recv(t, changes), addrs); diff != "" {
		t.Errorf("after recovery (-want +got):\n%s", diff)
	}
}

func TestCheckerUnknownToUnhealthy(t *testing.T) {
	s := newScripted()
	c, changes := newTestChecker(t, s)
	tg := target("192.0.2.2:80", 3, 2)
	c.Set([]Target{tg})
	s.send(t, tg.Address, ok, fail, fail)
	want := Status{Target: withDefaults(tg), Known: true, Reason: "broken", Since: t0, LastProbe: t0, Failures: 2}
	if diff := cmp.Diff(want, recv(t, changes), addrs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestCheckerOnChangeMayRead: OnChange runs with no lock held, so it can
// read Statuses (and sees the change in it).
func TestCheckerOnChangeMayRead(t *testing.T) {
	s := newScripted()
	seen := make(chan []Status, 1)
	var c *Checker
	c = New(Options{Probe: s.probe, Now: func() time.Time { return t0 }, OnChange: func(Status) { seen <- c.Statuses() }})
	t.Cleanup(c.Close)
	tg := target("192.0.2.3:80", 1, 1)
	c.Set([]Target{tg})
	s.send(t, tg.Address, ok)
	want := []Status{{Target: withDefaults(tg), Healthy: true, Known: true, Reason: "fine", Since: t0, LastProbe: t0, Successes: 1}}
	if diff := cmp.Diff(want, recv(t, seen), addrs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCheckerDedup(t *testing.T) {
	s := newScripted()
	c, _ := newTestChecker(t, s)
	web := target("192.0.2.4:80", 2, 2)
	// Two services with the same real server and check: one loop.
	sameAgain := web
	sameAgain.Check.Status = nil
	// The same server with another check: a loop of its own.
	other := web
	other.Check.Kind = "http"
	c.Set([]Target{web, sameAgain, other})

	var got []string
	for _, st := range c.Statuses() {
		got = append(got, st.Address.String()+" "+st.Check.Kind)
	}
	want := []string{"192.0.2.4:80 http", "192.0.2.4:80 tcp"}
	if diff := cmp.Diff(want, got, addrs); diff != "" {
		t.Errorf("loops (-want +got):\n%s", diff)
	}
}

func TestCheckerSetDiff(t *testing.T) {
	s := newScripted()
	c, changes := newTestChecker(t, s)
	a, b, d := target("192.0.2.5:80", 1, 1), target("192.0.2.6:80", 1, 1), target("192.0.2.7:80", 1, 1)
	c.Set([]Target{a, b})
	s.send(t, a.Address, ok)
	if got := recv(t, changes); got.Address != a.Address || !got.Healthy {
		t.Fatalf("change = %+v, want %v healthy", got, a.Address)
	}

	// Setting the same set again changes nothing.
	c.Set([]Target{b, a})
	s.waitProbing(t, b.Address)
	// b goes, d comes, a stays with its state.
	c.Set([]Target{a, d})
	if got := recv(t, s.stopped); got != b.Address {
		t.Errorf("stopped %v, want %v", got, b.Address)
	}
	want := []Status{
		{Target: withDefaults(a), Healthy: true, Known: true, Reason: "fine", Since: t0, LastProbe: t0, Successes: 1},
		{Target: withDefaults(d), Since: t0},
	}
	if diff := cmp.Diff(want, c.Statuses(), addrs); diff != "" {
		t.Errorf("Statuses (-want +got):\n%s", diff)
	}
	// a's loop still runs: it goes on from where it was.
	s.send(t, a.Address, fail)
	if got := recv(t, changes); got.Address != a.Address || got.Healthy || !got.Known {
		t.Fatalf("change = %+v, want %v unhealthy", got, a.Address)
	}

	s.waitProbing(t, a.Address, d.Address)
	c.Set(nil)
	stopped := []netip.AddrPort{recv(t, s.stopped), recv(t, s.stopped)}
	slices.SortFunc(stopped, netip.AddrPort.Compare)
	if diff := cmp.Diff([]netip.AddrPort{a.Address, d.Address}, stopped, addrs); diff != "" {
		t.Errorf("stopped (-want +got):\n%s", diff)
	}
	if got := c.Statuses(); len(got) != 0 {
		t.Errorf("Statuses after Set(nil) = %+v, want none", got)
	}
	select {
	case st := <-changes:
		t.Errorf("a removed target was reported: %+v", st)
	default:
	}
}

func TestCheckerClose(t *testing.T) {
	s := newScripted()
	c, _ := newTestChecker(t, s)
	a := target("192.0.2.8:80", 1, 1)
	c.Set([]Target{a})
	s.waitProbing(t, a.Address)
	c.Close() // cancels the blocked probe and waits for the loop
	if got := recv(t, s.stopped); got != a.Address {
		t.Errorf("stopped %v, want %v", got, a.Address)
	}
	c.Set([]Target{a})
	if got := c.Statuses(); len(got) != 0 {
		t.Errorf("Statuses after Close and Set = %+v, want none", got)
	}
	c.Close() // twice is fine
}

// TestCheckerRealProbes runs the real tcp probe through the loop: a real
// server that stops listening becomes unhealthy.
func TestCheckerRealProbes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	changes := make(chan Status, 100)
	c := New(Options{OnChange: func(s Status) { changes <- s }})
	defer c.Close()
	tg := Target{Address: ln.Addr().(*net.TCPAddr).AddrPort(), Check: model.Check{Kind: "tcp", Interval: 5 * time.Millisecond, Timeout: testTimeout}}
	c.Set([]Target{tg})
	if got := recv(t, changes); !got.Healthy || got.Reason != "tcp: connected" || got.Successes != DefaultRise {
		t.Fatalf("change = %+v, want healthy after %d connects", got, DefaultRise)
	}
	ln.Close()
	if got := recv(t, changes); got.Healthy || got.Reason != "connect: connection refused" || got.Failures != DefaultFall {
		t.Fatalf("change = %+v, want unhealthy after %d refusals", got, DefaultFall)
	}
}

func TestObserve(t *testing.T) {
	type step struct {
		healthy             bool
		changed             bool
		wantHealthy, known  bool
		successes, failures int
	}
	for _, tc := range []struct {
		name       string
		rise, fall int
		steps      []step
	}{
		{"rise 1 fall 1", 1, 1, []step{
			{true, true, true, true, 1, 0},
			{false, true, false, true, 0, 1},
			{true, true, true, true, 1, 0},
		}},
		{"rise 3", 3, 1, []step{
			{true, false, false, false, 1, 0},
			{true, false, false, false, 2, 0},
			{false, true, false, true, 0, 1},
			{true, false, false, true, 1, 0},
			{true, false, false, true, 2, 0},
			{true, true, true, true, 3, 0},
			{true, false, true, true, 4, 0},
		}},
		{"fall 2 from healthy", 1, 2, []step{
			{true, true, true, true, 1, 0},
			{false, false, true, true, 0, 1},
			{true, false, true, true, 1, 0},
			{false, false, true, true, 0, 1},
			{false, true, false, true, 0, 2},
			{false, false, false, true, 0, 3},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Status{Target: Target{Check: model.Check{Rise: tc.rise, Fall: tc.fall}}}
			for i, st := range tc.steps {
				now := t0.Add(time.Duration(i) * time.Second)
				since := s.Since
				changed := s.observe(Result{Healthy: st.healthy}, now)
				got := step{st.healthy, changed, s.Healthy, s.Known, s.Successes, s.Failures}
				if diff := cmp.Diff(st, got, cmp.AllowUnexported(step{})); diff != "" {
					t.Fatalf("step %d (-want +got):\n%s", i, diff)
				}
				if changed && !s.Since.Equal(now) || !changed && !s.Since.Equal(since) {
					t.Errorf("step %d: Since = %v, changed %v", i, s.Since, changed)
				}
			}
		})
	}
}

// TestKeyCoversEveryCheckField: any setting of model.Check, changed,
// makes another probe loop. A field added to model.Check and forgotten in
// Key would merge loops that must stay apart.
func TestKeyCoversEveryCheckField(t *testing.T) {
	base := Target{Address: netip.MustParseAddrPort("192.0.2.1:80"), Check: WithDefaults(model.Check{Kind: "http"})}
	k := base.Key()
	typ := reflect.TypeFor[model.Check]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		changed := base
		v := reflect.ValueOf(&changed.Check).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Int, reflect.Int64:
			v.SetInt(v.Int() + 7)
		case reflect.Uint16:
			v.SetUint(v.Uint() + 7)
		case reflect.Slice:
			elem := reflect.New(f.Type.Elem()).Elem()
			if elem.Kind() == reflect.String {
				elem.SetString("x")
			}
			v.Set(reflect.Append(v, elem))
		default:
			t.Fatalf("model.Check.%s has kind %v, which this test cannot change: teach it, and Key", f.Name, f.Type.Kind())
		}
		if changed.Key() == k {
			t.Errorf("changing model.Check.%s does not change the Key", f.Name)
		}
	}
	other := base
	other.Address = netip.MustParseAddrPort("192.0.2.1:81")
	if other.Key() == k {
		t.Error("the address is not in the Key")
	}
}

func TestKeyEqual(t *testing.T) {
	addr := netip.MustParseAddrPort("192.0.2.1:80")
	for _, tc := range []struct {
		name string
		a, b model.Check
		same bool
	}{
		{"defaults spelt out", model.Check{}, model.Check{Kind: "TCP", Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: DefaultRise, Fall: DefaultFall}, true},
		{"http defaults", model.Check{Kind: "http"}, model.Check{Kind: "http", Method: "GET", Path: "/"}, true},
		{"timeout follows a short interval", model.Check{Interval: 100 * time.Millisecond}, model.Check{Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond}, true},
		{"argv split differently", model.Check{Kind: "exec", Command: []string{"a b"}}, model.Check{Kind: "exec", Command: []string{"a", "b"}}, false},
		{"status order", model.Check{Kind: "http", Status: []int{200, 204}}, model.Check{Kind: "http", Status: []int{204, 200}}, false},
		{"status split", model.Check{Kind: "http", Status: []int{20, 0}}, model.Check{Kind: "http", Status: []int{200}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Target{addr, tc.a}.Key() == Target{addr, tc.b}.Key()); got != tc.same {
				t.Errorf("keys equal = %v, want %v", got, tc.same)
			}
		})
	}
}

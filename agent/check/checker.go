package check

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/droverha/drover/model"
)

// Runner is what the agent needs of a checker; Checker and Fake are
// Runners.
type Runner interface {
	// Set makes targets the full set of what is probed.
	Set(targets []Target)
	// Statuses returns the state of every target.
	Statuses() []Status
	// Close stops all probing.
	Close()
}

var _ Runner = (*Checker)(nil)

// Status is the health of one target as its probe loop sees it.
//
// A target whose check settings change is a new target (another Key): it
// starts unknown, since the old verdict is no evidence for the new check.
// So does every target when the agent starts. What an unknown real server
// gets (keep its last weight, or none) is the manager's policy, and holding
// the last decision avoids taking a whole service down for a second after
// a check's settings are edited.
type Status struct {
	Target
	// Healthy is meaningful only when Known: a new target is unknown, and
	// so not healthy, until Rise probes in a row succeeded or Fall failed.
	Healthy bool
	Known   bool
	Reason  string    // of the last probe
	Since   time.Time // of the last change of Healthy or Known; the loop's start before that
	// LastProbe is when the last probe ended; zero before the first.
	LastProbe time.Time
	Latency   time.Duration // of the last probe
	// Consecutive successes and failures, one of them zero after the first
	// probe.
	Successes, Failures int
}

// ProbeFunc probes one target once.
type ProbeFunc func(ctx context.Context, target netip.AddrPort, c model.Check) Result

// Options configure a Checker.
type Options struct {
	Logger *slog.Logger // nil: discard
	// OnChange is told of every change of Healthy or Known, after it is
	// visible in Statuses. Calls are made one at a time, from the probe
	// loops: OnChange must not block for long, and must not call Close.
	// It may call Set and Statuses. A change a loop decided just before
	// Set removed its target may still be reported while Set runs.
	OnChange func(Status)
	// Now stamps Since and LastProbe; nil: time.Now.
	Now func() time.Time
	// Probe replaces the real probes (Probe); tests use it to decide each
	// probe's outcome. nil: the real probes, each loop preparing its check
	// once.
	Probe ProbeFunc
}

// Checker runs one probe loop per distinct Target Key and keeps each
// loop's state. Set is level-triggered: it is given the whole wanted set
// every time, starts what is new, stops what is gone and leaves the rest,
// with their state, alone.
type Checker struct {
	log      *slog.Logger
	now      func() time.Time
	onChange func(Status)
	probe    ProbeFunc

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the loops

	notifyMu sync.Mutex // serialises OnChange calls

	mu    sync.Mutex // guards loops, seq, and every loop's st
	loops map[Key]*loop
	seq   uint64 // loop creation order, for a stable Statuses order
}

// loop is one probe loop's identity and state.
type loop struct {
	target Target // as first Set; Check with defaults applied
	seq    uint64
	ctx    context.Context // ends when Set drops the loop, or at Close
	cancel context.CancelFunc
	st     Status // guarded by Checker.mu
}

// New returns a Checker probing nothing until Set.
func New(o Options) *Checker {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Checker{
		log:      log.With("component", "check"),
		now:      o.Now,
		onChange: o.OnChange,
		probe:    o.Probe,
		loops:    map[Key]*loop{},
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Set makes targets the full set of probed targets. Targets with equal
// Keys share one loop; the first one given names it in Statuses. Set
// does not wait for stopped loops to end (Close does).
func (c *Checker) Set(targets []Target) {
	want := make(map[Key]Target, len(targets))
	for _, t := range targets {
		k := t.Key()
		if _, dup := want[k]; !dup {
			want[k] = t
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return
	}
	for k, l := range c.loops {
		if _, ok := want[k]; !ok {
			l.cancel()
			delete(c.loops, k)
			c.log.Debug("stopped probing", "target", l.target.Address, "kind", l.target.Check.Kind)
		}
	}
	for k, t := range want {
		if _, ok := c.loops[k]; ok {
			continue
		}
		t.Check = WithDefaults(t.Check)
		c.seq++
		l := &loop{target: t, seq: c.seq}
		l.ctx, l.cancel = context.WithCancel(c.ctx)
		l.st = Status{Target: t, Since: c.now()}
		c.loops[k] = l
		c.wg.Add(1)
		go c.run(l)
		c.log.Debug("started probing", "target", t.Address, "kind", t.Check.Kind)
	}
}

// Statuses returns every target's status, ordered by address, then
// kind, then age.
func (c *Checker) Statuses() []Status {
	c.mu.Lock()
	type entry struct {
		s   Status
		seq uint64
	}
	es := make([]entry, 0, len(c.loops))
	for _, l := range c.loops {
		es = append(es, entry{l.st, l.seq})
	}
	c.mu.Unlock()
	slices.SortFunc(es, func(a, b entry) int {
		return cmp.Or(
			a.s.Address.Compare(b.s.Address),
			cmp.Compare(a.s.Check.Kind, b.s.Check.Kind),
			cmp.Compare(a.seq, b.seq))
	})
	out := make([]Status, len(es))
	for i, e := range es {
		out[i] = e.s
	}
	return out
}

// Close stops every loop and waits for them to end. A probe under way is
// cancelled. Set after Close does nothing.
func (c *Checker) Close() {
	c.mu.Lock()
	c.cancel()
	clear(c.loops)
	c.mu.Unlock()
	c.wg.Wait()
}

// run is one probe loop: a first probe at a random point within the first
// interval, so that thousands of loops started by one Set spread out, then
// one probe every interval. Probes never overlap; a probe that overruns the
// interval delays the next.
func (c *Checker) run(l *loop) {
	defer c.wg.Done()
	t := l.target
	interval, timeout := t.Check.Interval, t.Check.Timeout
	probe := c.probe
	if probe == nil {
		p := newProber(t.Address, t.Check)
		probe = func(ctx context.Context, _ netip.AddrPort, _ model.Check) Result { return p.probe(ctx) }
	}

	timer := time.NewTimer(rand.N(interval))
	defer timer.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(l.ctx, timeout)
		r := probe(ctx, t.Address, t.Check)
		cancel()
		if l.ctx.Err() != nil {
			return
		}
		c.record(l, r)
		timer.Reset(max(0, interval-time.Since(start)))
	}
}

// record applies one probe's result to l and reports a change.
func (c *Checker) record(l *loop, r Result) {
	c.mu.Lock()
	if l.ctx.Err() != nil { // Set dropped the loop during the probe
		c.mu.Unlock()
		return
	}
	changed := l.st.observe(r, c.now())
	s := l.st
	c.mu.Unlock()
	if !changed {
		return
	}
	c.log.Info("health changed", "target", s.Address, "kind", s.Check.Kind,
		"healthy", s.Healthy, "reason", s.Reason)
	if c.onChange != nil {
		c.notifyMu.Lock()
		defer c.notifyMu.Unlock()
		c.onChange(s)
	}
}

// observe applies the rise/fall hysteresis to one result: Rise successes
// in a row make a target healthy, Fall failures in a row unhealthy; an
// unknown target becomes known by whichever comes first. It reports
// whether Healthy or Known changed.
func (s *Status) observe(r Result, now time.Time) (changed bool) {
	s.Reason, s.Latency, s.LastProbe = r.Reason, r.Latency, now
	if r.Healthy {
		s.Successes, s.Failures = s.Successes+1, 0
		if s.Successes >= s.Check.Rise && (!s.Known || !s.Healthy) {
			s.Known, s.Healthy, s.Since = true, true, now
			return true
		}
		return false
	}
	s.Successes, s.Failures = 0, s.Failures+1
	if s.Failures >= s.Check.Fall && (!s.Known || s.Healthy) {
		s.Known, s.Healthy, s.Since = true, false, now
		return true
	}
	return false
}

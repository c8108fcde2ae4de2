package bus

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeLease is a lease store with a server-side clock: it expires the
// lease ttl after the last successful write, as the KV bucket does.
type fakeLease struct {
	now     *time.Time
	ttl     time.Duration
	rev     uint64
	holder  string
	written time.Time
	down    bool // the bus is unreachable: every call fails
	caller  string
	// noExpiry models a server whose expiry timer lags: the key stays until
	// taken over.
	noExpiry  bool
	takeovers int
	// stale answers the next renewals as a stream leader deposed by a
	// partition does right after the heal: the lease reads as absent.
	stale int
	// loseReply stores the next renewal but fails it as a lost reply would;
	// unacked is the revision it was stored at.
	loseReply bool
	unacked   uint64
}

func (f *fakeLease) expired() bool {
	return f.holder == "" || (!f.noExpiry && f.now.Sub(f.written) >= f.ttl)
}

func (f *fakeLease) Acquire(context.Context) (Grant, error) {
	if f.down {
		return Grant{}, errors.New("no responders")
	}
	if !f.expired() {
		return Grant{}, &HeldError{Revision: f.rev}
	}
	f.rev++
	f.holder, f.written = f.caller, *f.now
	return Grant{Epoch: f.rev, Revision: f.rev}, nil
}

func (f *fakeLease) TakeOver(_ context.Context, rev uint64) (Grant, error) {
	if f.down {
		return Grant{}, errors.New("timeout")
	}
	if rev != f.rev {
		return Grant{}, &HeldError{}
	}
	f.rev++
	f.holder, f.written = f.caller, *f.now
	f.takeovers++
	return Grant{Epoch: f.rev, Revision: f.rev}, nil
}

func (f *fakeLease) Renew(_ context.Context, g Grant) (Grant, error) {
	if f.down {
		return g, errors.New("timeout")
	}
	if f.stale > 0 {
		f.stale--
		return g, ErrLeaseMissing
	}
	if f.loseReply {
		// Stored, but the reply never comes back.
		f.loseReply = false
		f.rev++
		f.written, f.unacked = *f.now, f.rev
		return g, errors.New("timeout")
	}
	if g.Revision != f.rev && f.rev == f.unacked && !f.expired() {
		g.Revision, g.Adopted = f.rev, true // Lease.Renew recognises its own write
		return g, nil
	}
	if f.expired() {
		return g, ErrLeaseMissing
	}
	if g.Revision != f.rev {
		return g, ErrLeaseLost
	}
	f.rev++
	f.written = *f.now
	g.Revision, g.Adopted = f.rev, false
	return g, nil
}

func (f *fakeLease) Release(_ context.Context, g Grant) error {
	if f.down || g.Revision != f.rev {
		return ErrLeaseLost
	}
	f.holder = ""
	f.rev++
	return nil
}

// Two electors share one store; step them tick by tick.
func TestElectorOneLeaderAndFencing(t *testing.T) {
	now := time.Unix(1000, 0)
	store := &fakeLease{now: &now, ttl: 2 * time.Second}
	type node struct {
		name string
		el   *Elector
	}
	a := node{"a", NewElector(&callerLease{store, "a"}, 2*time.Second, 100*time.Millisecond)}
	b := node{"b", NewElector(&callerLease{store, "b"}, 2*time.Second, 100*time.Millisecond)}
	ctx := context.Background()
	step := func(n node, quorum bool) Decision { return n.el.Step(ctx, now, quorum) }
	tick := func(d time.Duration) { now = now.Add(d) }

	if d := step(a, true); d.Change != Elected || d.Epoch != 1 {
		t.Fatalf("a first step = %+v, want elected at epoch 1", d)
	}
	if d := step(b, true); d.Change != Unchanged {
		t.Fatalf("b while a holds = %+v, want unchanged", d)
	}
	// a renews for a while; b never gets in.
	for range 50 {
		tick(100 * time.Millisecond)
		if d := step(a, true); d.Change != Unchanged {
			t.Fatalf("a renewing = %+v", d)
		}
		if d := step(b, true); d.Change != Unchanged {
			t.Fatalf("b while a renews = %+v", d)
		}
	}
	// a loses the bus: it must stop leading before b can acquire.
	store.down = true
	var aDown, bUp time.Time
	for i := 0; i < 100 && bUp.IsZero(); i++ {
		tick(100 * time.Millisecond)
		if d := step(a, true); d.Change == SteppedDown {
			aDown = now
			if d.Reason != "lease not renewed in time" {
				t.Errorf("a stepped down because %q", d.Reason)
			}
		}
		store.down = false
		if d := step(b, true); d.Change == Elected {
			bUp = now
			if d.Epoch <= 1 {
				t.Errorf("b epoch %d, want > 1", d.Epoch)
			}
		}
		store.down = true
	}
	if aDown.IsZero() || bUp.IsZero() || !aDown.Before(bUp) {
		t.Fatalf("a stepped down at %v, b elected at %v: want a strictly first", aDown, bUp)
	}
	// a returns and does not fight.
	store.down = false
	for range 20 {
		tick(100 * time.Millisecond)
		if d := step(a, true); d.Change != Unchanged {
			t.Fatalf("returning a = %+v, want unchanged", d)
		}
		step(b, true)
	}
	// Losing quorum makes b resign at once, and a may take over.
	if d := step(b, false); d.Change != SteppedDown || d.Reason != "quorum lost" {
		t.Fatalf("b without quorum = %+v", d)
	}
	tick(100 * time.Millisecond)
	if d := step(a, true); d.Change != Elected {
		t.Fatalf("a after b resigned = %+v, want elected", d)
	}
	// Without quorum nobody campaigns.
	if d := step(b, false); d.Change != Unchanged {
		t.Fatalf("b without quorum campaigning: %+v", d)
	}
}

type callerLease struct {
	f    *fakeLease
	name string
}

func (c *callerLease) Acquire(ctx context.Context) (Grant, error) {
	c.f.caller = c.name
	return c.f.Acquire(ctx)
}
func (c *callerLease) TakeOver(ctx context.Context, rev uint64) (Grant, error) {
	c.f.caller = c.name
	return c.f.TakeOver(ctx, rev)
}
func (c *callerLease) Renew(ctx context.Context, g Grant) (Grant, error) { return c.f.Renew(ctx, g) }
func (c *callerLease) Release(ctx context.Context, g Grant) error        { return c.f.Release(ctx, g) }

// When the server's expiry lags, a candidate takes a lease that was not
// renewed for a TTL by CAS, and still only after the holder stopped.
func TestElectorTakesOverUnrenewedLease(t *testing.T) {
	now := time.Unix(1000, 0)
	store := &fakeLease{now: &now, ttl: 2 * time.Second, noExpiry: true}
	a := NewElector(&callerLease{store, "a"}, 2*time.Second, 100*time.Millisecond)
	b := NewElector(&callerLease{store, "b"}, 2*time.Second, 100*time.Millisecond)
	ctx := context.Background()
	if d := a.Step(ctx, now, true); d.Change != Elected {
		t.Fatalf("a = %+v", d)
	}
	var aDown, bUp time.Time
	for i := 0; i < 100 && bUp.IsZero(); i++ {
		now = now.Add(100 * time.Millisecond)
		if i == 10 {
			store.down = true // a is cut off from here on; b is not
		}
		if d := a.Step(ctx, now, true); d.Change == SteppedDown {
			aDown = now
		}
		down := store.down
		store.down = false
		if d := b.Step(ctx, now, true); d.Change == Elected {
			bUp = now
		}
		store.down = down
	}
	if store.takeovers != 1 || aDown.IsZero() || !aDown.Before(bUp) {
		t.Fatalf("takeovers %d, a down at %v, b up at %v", store.takeovers, aDown, bUp)
	}
}

// A stall of the whole bus longer than the TTL (the lease stream electing a
// Raft leader): the holder steps down in time, then renews its grant again
// at the same epoch; a candidate that could not read the lease either does
// not take it over in the meantime.
func TestElectorResumesAfterBusStall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noExpiry  bool
		wantEpoch uint64 // a's epoch once the bus is back
	}{
		{"lease kept by the server", true, 1},
		{"lease expired by the server", false, 0}, // a new epoch, whoever wins
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			store := &fakeLease{now: &now, ttl: 2 * time.Second, noExpiry: tc.noExpiry}
			a := NewElector(&callerLease{store, "a"}, 2*time.Second, 100*time.Millisecond)
			b := NewElector(&callerLease{store, "b"}, 2*time.Second, 100*time.Millisecond)
			ctx := context.Background()
			if d := a.Step(ctx, now, true); d.Change != Elected {
				t.Fatalf("a = %+v", d)
			}
			// b watches a renew for a while, then the bus stalls for 6 s.
			var aDown time.Time
			for i := range 100 {
				now = now.Add(100 * time.Millisecond)
				store.down = i >= 20 && i < 80
				if d := a.Step(ctx, now, true); d.Change == SteppedDown {
					aDown = now
				}
				if d := b.Step(ctx, now, true); d.Change == Elected && !tc.noExpiry {
					break // the server expired the lease: b may create it anew
				} else if d.Change == Elected {
					t.Fatalf("b elected at step %d (%+v) while a could resume", i, d)
				}
			}
			if aDown.IsZero() || aDown.Sub(time.Unix(1000, 0)) > 4*time.Second {
				t.Fatalf("a stepped down at %v, want within TTL·4/5 of the stall", aDown)
			}
			aLeads, aEpoch := a.Leader()
			bLeads, _ := b.Leader()
			if aLeads == bLeads {
				t.Fatalf("after the stall: a leads %v, b leads %v; want exactly one", aLeads, bLeads)
			}
			if tc.wantEpoch != 0 && (!aLeads || aEpoch != tc.wantEpoch || store.takeovers != 0) {
				t.Fatalf("a leads %v at epoch %d (takeovers %d), want a again at epoch %d", aLeads, aEpoch, store.takeovers, tc.wantEpoch)
			}
		})
	}
}

// A holder that stepped down for failed renewals and shuts down before it
// could resume gives the lease up; one whose lease was taken meanwhile
// becomes an ordinary candidate.
func TestElectorKeptGrant(t *testing.T) {
	now := time.Unix(1000, 0)
	store := &fakeLease{now: &now, ttl: 2 * time.Second, noExpiry: true}
	a := NewElector(&callerLease{store, "a"}, 2*time.Second, 100*time.Millisecond)
	ctx := context.Background()
	a.Step(ctx, now, true)
	store.down = true
	for range 20 {
		now = now.Add(100 * time.Millisecond)
		a.Step(ctx, now, true)
	}
	if l, _ := a.Leader(); l {
		t.Fatal("a still leads after 2 s without a renewal")
	}
	store.down = false
	if a.Resign(ctx) {
		t.Error("Resign reported a manager that had stepped down")
	}
	if store.holder != "" {
		t.Errorf("kept grant not released on Resign: holder %q", store.holder)
	}

	// Taken meanwhile: resuming fails, a campaigns and finds it held.
	b := NewElector(&callerLease{store, "b"}, 2*time.Second, 100*time.Millisecond)
	a.Step(ctx, now, true)
	if l, _ := a.Leader(); !l {
		t.Fatal("a not elected on a free lease")
	}
	store.down = true
	for range 20 {
		now = now.Add(100 * time.Millisecond)
		a.Step(ctx, now, true)
	}
	store.down = false
	store.holder = "" // as if expired and created by b
	if d := b.Step(ctx, now, true); d.Change != Elected {
		t.Fatalf("b = %+v", d)
	}
	now = now.Add(100 * time.Millisecond)
	if d := a.Step(ctx, now, true); d.Change != Unchanged {
		t.Fatalf("a resuming a lease b holds = %+v, want unchanged", d)
	}
	if l, _ := a.Leader(); l {
		t.Fatal("a leads beside b")
	}
}

// Renewals answered by a deposed stream leader (the lease reads as absent)
// do not make the manager step down before its deadline.
func TestElectorRidesOutStaleAnswers(t *testing.T) {
	now := time.Unix(1000, 0)
	store := &fakeLease{now: &now, ttl: 2 * time.Second}
	a := NewElector(&callerLease{store, "a"}, 2*time.Second, 100*time.Millisecond)
	ctx := context.Background()
	a.Step(ctx, now, true)
	store.stale = 3
	for i := range 30 {
		now = now.Add(100 * time.Millisecond)
		if d := a.Step(ctx, now, true); d.Change != Unchanged {
			t.Fatalf("step %d: %+v", i, d)
		}
	}
	if l, epoch := a.Leader(); !l || epoch != 1 || store.stale != 0 {
		t.Fatalf("a leads %v at epoch %d (%d stale answers left)", l, epoch, store.stale)
	}
}

// A renewal stored although its reply was lost is recognised, but it does
// not extend the manager's deadline: when it was stored is unknown, and a
// candidate counts its TTL from when it saw it. If the bus then fails for
// good, the manager stops TTL·4/5 after its last acknowledged renewal.
func TestElectorAdoptedRenewalDoesNotExtend(t *testing.T) {
	now := time.Unix(1000, 0)
	start := now
	store := &fakeLease{now: &now, ttl: 2 * time.Second}
	a := NewElector(&callerLease{store, "a"}, 2*time.Second, 100*time.Millisecond)
	ctx := context.Background()
	a.Step(ctx, now, true)
	var down time.Time
	for i := 1; i <= 30 && down.IsZero(); i++ {
		now = now.Add(100 * time.Millisecond)
		store.loseReply = i == 5 // the renewal due at 0.5 s is stored at 0.5 s, unacknowledged
		store.down = i > 6       // after a has adopted it at 0.6 s
		if d := a.Step(ctx, now, true); d.Change == SteppedDown {
			down = now
		}
	}
	if down.IsZero() || down.Sub(start) > 1600*time.Millisecond {
		t.Fatalf("a stepped down %v after its last acknowledged renewal, want by TTL·4/5 = 1.6s", down.Sub(start))
	}
}

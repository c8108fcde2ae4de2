package bus

import (
	"context"
	"errors"
	"time"
)

// LeaseStore is what the Elector needs of a lease; Lease implements it and
// tests step the Elector against a fake.
type LeaseStore interface {
	Acquire(ctx context.Context) (Grant, error)
	TakeOver(ctx context.Context, rev uint64) (Grant, error)
	Renew(ctx context.Context, g Grant) (Grant, error)
	Release(ctx context.Context, g Grant) error
}

var _ LeaseStore = (*Lease)(nil)

// Elector decides, tick by tick, whether this node is the manager. It is a
// state machine: the agent calls Step with the time and its quorum view, and
// tests call it the same way with a fake store and clock.
//
// A lease that nobody renews is taken over in two ways, whichever comes
// first: the bucket's TTL expires the key and a candidate creates it anew,
// or a candidate that has seen the same revision for a whole TTL by its own
// clock replaces it by compare-and-swap on that revision (the server's
// expiry timer can lag the TTL by seconds; this does not).
//
// Safety: a holder stops calling itself manager TTL·4/5 after sending its
// last successful renewal. That renewal was stored after it was sent, the
// server expires it at least TTL after it was stored, and a candidate sees
// it after it was stored and waits a further TTL; so both ways come after
// the holder has stopped, as long as clocks run at nearly the same rate.
type Elector struct {
	store      LeaseStore
	ttl        time.Duration
	renewEvery time.Duration
	retry      time.Duration

	leader    bool
	grant     Grant
	seenRev   uint64    // the lease revision a candidate last saw
	seenAt    time.Time // when it first saw it
	lastRenew time.Time // when the last successful renewal (or the create) was sent
	deadline  time.Time // when we stop believing we lead without a renewal
	nextTry   time.Time
}

// NewElector returns an Elector for a lease of the given TTL that tries to
// acquire every retry while it is not the manager.
func NewElector(store LeaseStore, ttl, retry time.Duration) *Elector {
	return &Elector{store: store, ttl: ttl, renewEvery: ttl / 4, retry: retry}
}

// Change is what one Step did.
type Change int

// Changes reported by Step.
const (
	Unchanged Change = iota
	Elected
	SteppedDown
)

// Decision is the result of a Step, with the reason for a change.
type Decision struct {
	Change Change
	Epoch  uint64
	Reason string
	Err    error // the last store error, if any; informational
}

// Leader reports whether this node is the manager and its epoch.
func (e *Elector) Leader() (bool, uint64) { return e.leader, e.grant.Epoch }

// Step advances the election to now. quorum is whether this node sees a
// majority of voters: without it a node neither campaigns nor stays manager.
func (e *Elector) Step(ctx context.Context, now time.Time, quorum bool) Decision {
	if e.leader {
		return e.stepLeader(ctx, now, quorum)
	}
	if !quorum || now.Before(e.nextTry) {
		return Decision{}
	}
	cctx, cancel := context.WithTimeout(ctx, e.ttl/2)
	defer cancel()
	g, err := e.store.Acquire(cctx)
	reason := "lease acquired"
	var held *HeldError
	if errors.As(err, &held) && held.Revision != 0 {
		switch {
		case held.Revision != e.seenRev:
			e.seenRev, e.seenAt = held.Revision, now
		case now.Sub(e.seenAt) >= e.ttl:
			g, err = e.store.TakeOver(cctx, held.Revision)
			reason = "lease taken over: not renewed for " + now.Sub(e.seenAt).Round(time.Millisecond).String()
		}
	}
	if err != nil {
		e.nextTry = now.Add(e.retry)
		if errors.Is(err, ErrLeaseHeld) {
			return Decision{}
		}
		return Decision{Err: err}
	}
	e.leader, e.grant, e.lastRenew = true, g, now
	e.deadline = now.Add(e.ttl - e.ttl/5)
	return Decision{Change: Elected, Epoch: g.Epoch, Reason: reason}
}

func (e *Elector) stepLeader(ctx context.Context, now time.Time, quorum bool) Decision {
	if !quorum {
		e.release(ctx)
		return Decision{Change: SteppedDown, Epoch: e.grant.Epoch, Reason: "quorum lost"}
	}
	if !now.Before(e.deadline) {
		e.leader = false
		e.nextTry = now.Add(e.retry)
		return Decision{Change: SteppedDown, Epoch: e.grant.Epoch, Reason: "lease not renewed in time"}
	}
	if now.Sub(e.lastRenew) < e.renewEvery {
		return Decision{}
	}
	cctx, cancel := context.WithDeadline(ctx, e.deadline)
	defer cancel()
	g, err := e.store.Renew(cctx, e.grant)
	switch {
	case err == nil:
		e.grant, e.lastRenew = g, now
		e.deadline = now.Add(e.ttl - e.ttl/5)
		return Decision{}
	case errors.Is(err, ErrLeaseLost):
		e.leader = false
		e.nextTry = now.Add(e.retry)
		return Decision{Change: SteppedDown, Epoch: e.grant.Epoch, Reason: "lease taken over", Err: err}
	default:
		// Keep trying until the deadline.
		return Decision{Err: err}
	}
}

// Resign gives the lease up, if held, so a successor need not wait for it
// to expire. It is used on graceful shutdown.
func (e *Elector) Resign(ctx context.Context) bool {
	if !e.leader {
		return false
	}
	e.release(ctx)
	return true
}

func (e *Elector) release(ctx context.Context) {
	e.leader = false
	cctx, cancel := context.WithTimeout(ctx, e.ttl/4)
	defer cancel()
	_ = e.store.Release(cctx, e.grant) // best effort: the TTL ends it anyway
	e.nextTry = time.Time{}
}

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
//
// A holder that stepped down only because its renewals failed (the lease's
// stream was electing a Raft leader, say, which in nats-server takes 4–9 s)
// keeps its grant and, once it has quorum, first tries to renew that grant
// again. The renewal is a compare-and-swap on the grant's revision, so it
// succeeds only if nobody took the lease meanwhile, and the manager carries
// on at the same epoch. To give it the first chance, a candidate that could
// not read the lease for a while counts the lease as stale only after it
// has seen it unchanged for TTL/4 since it could read it again: a stall of
// the bus says nothing about whether the holder is alive.
type Elector struct {
	store      LeaseStore
	ttl        time.Duration
	renewEvery time.Duration
	retry      time.Duration

	leader    bool
	grant     Grant
	seenRev   uint64    // the lease revision a candidate last saw
	seenAt    time.Time // when it first saw it
	clearAt   time.Time // when it last saw it after a failed read
	blind     bool      // a store call failed since it last saw the lease
	resume    bool      // stepped down for failed renewals only: renew grant first
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
	if e.resume {
		g, err := e.store.Renew(cctx, e.grant)
		if err == nil && g.Adopted {
			g, err = e.store.Renew(cctx, g) // a write of our own to count from
		}
		switch {
		case err == nil && g.Adopted:
			e.grant = g
			e.nextTry = now.Add(e.retry)
			return Decision{}
		case err == nil:
			e.resume, e.seenRev = false, 0
			e.leader, e.grant, e.lastRenew = true, g, now
			e.deadline = now.Add(e.ttl - e.ttl/5)
			return Decision{Change: Elected, Epoch: g.Epoch, Reason: "lease renewed again: nobody took it while the bus could not store renewals"}
		case errors.Is(err, ErrLeaseLost), errors.Is(err, ErrLeaseMissing):
			e.resume = false // someone else has it, or it expired: campaign
		default:
			e.nextTry = now.Add(e.retry)
			return Decision{Err: err}
		}
	}
	g, err := e.store.Acquire(cctx)
	reason := "lease acquired"
	var held *HeldError
	if errors.As(err, &held) && held.Revision != 0 {
		switch {
		case held.Revision != e.seenRev:
			e.seenRev, e.seenAt, e.clearAt = held.Revision, now, now
		case e.blind:
			e.clearAt = now
		case now.Sub(e.seenAt) >= e.ttl && now.Sub(e.clearAt) >= e.renewEvery:
			g, err = e.store.TakeOver(cctx, held.Revision)
			reason = "lease taken over: not renewed for " + now.Sub(e.seenAt).Round(time.Millisecond).String()
		}
		e.blind = false
	}
	if err != nil {
		e.nextTry = now.Add(e.retry)
		if errors.Is(err, ErrLeaseHeld) {
			return Decision{}
		}
		e.blind = true
		return Decision{Err: err}
	}
	e.seenRev = 0
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
		e.leader, e.resume = false, true
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
	case err == nil && g.Adopted:
		// An earlier renewal was stored after all, at a time we do not
		// know: take its revision, keep the deadline, renew next step.
		e.grant = g
		return Decision{}
	case err == nil:
		e.grant, e.lastRenew = g, now
		e.deadline = now.Add(e.ttl - e.ttl/5)
		return Decision{}
	case errors.Is(err, ErrLeaseLost):
		e.leader = false
		e.nextTry = now.Add(e.retry)
		return Decision{Change: SteppedDown, Epoch: e.grant.Epoch, Reason: "lease taken over", Err: err}
	default:
		// Keep trying until the deadline. That includes ErrLeaseMissing:
		// nobody can have taken the lease before the deadline (see Elector),
		// so a lease that reads as absent is a stale answer or an early
		// expiry, and the next renewal may well find it.
		return Decision{Err: err}
	}
}

// Resign gives the lease up, if held, so a successor need not wait for it
// to expire. It is used on graceful shutdown. It reports whether this node
// was the manager; a grant kept to be resumed is released too.
func (e *Elector) Resign(ctx context.Context) bool {
	if !e.leader && !e.resume {
		return false
	}
	was := e.leader
	e.release(ctx)
	return was
}

func (e *Elector) release(ctx context.Context) {
	e.leader, e.resume = false, false
	cctx, cancel := context.WithTimeout(ctx, e.ttl/4)
	defer cancel()
	_ = e.store.Release(cctx, e.grant) // best effort: the TTL ends it anyway
	e.nextTry = time.Time{}
}

package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease is the manager lease: one key in a KV bucket whose TTL is the lease
// time. It is taken with create-if-absent and renewed with a revision
// compare-and-swap; the revision of the creating write is the epoch, the
// fencing token every manager decision carries. Only the results of
// compare-and-swap writes are trusted; reads are for display.
type Lease struct {
	kv   jetstream.KeyValue
	node string
	boot string
	now  func() time.Time
}

// NewLease returns node's handle on the lease in kv.
func NewLease(kv jetstream.KeyValue, node, boot string, now func() time.Time) *Lease {
	if now == nil {
		now = time.Now
	}
	return &Lease{kv: kv, node: node, boot: boot, now: now}
}

// Grant is a held lease.
type Grant struct {
	Epoch    uint64 // the revision of the creating write
	Revision uint64 // the revision of the latest write, for the next CAS
	Acquired time.Time
	// Adopted is set by a Renew that wrote nothing but found an earlier
	// renewal of ours stored although its reply was lost. When that write
	// was stored is unknown, so it does not extend the lease: the caller
	// renews again, at Revision.
	Adopted bool
}

// HeldError is returned by Acquire when someone holds the lease; Revision
// is the lease's current revision, for TakeOver.
type HeldError struct{ Revision uint64 }

func (e *HeldError) Error() string { return fmt.Sprintf("%v at revision %d", ErrLeaseHeld, e.Revision) }

// Unwrap makes errors.Is(err, ErrLeaseHeld) hold.
func (e *HeldError) Unwrap() error { return ErrLeaseHeld }

// Acquire creates the lease if nobody holds it. When someone does it returns
// a *HeldError carrying the lease's revision.
func (l *Lease) Acquire(ctx context.Context) (Grant, error) {
	now := l.now()
	v, err := Encode(LeaseValue{V: Version, Holder: l.node, Boot: l.boot, Acquired: now, Renewed: now})
	if err != nil {
		return Grant{}, err
	}
	rev, err := l.kv.Create(ctx, LeaseKey, v)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			e, gerr := l.kv.Get(ctx, LeaseKey)
			if gerr != nil {
				return Grant{}, &HeldError{}
			}
			return Grant{}, &HeldError{Revision: e.Revision()}
		}
		return Grant{}, fmt.Errorf("creating manager lease: %w", err)
	}
	return Grant{Epoch: rev, Revision: rev, Acquired: now}, nil
}

// TakeOver replaces a lease that has not been renewed since revision rev,
// by compare-and-swap on that revision. The caller decides that rev is
// stale (unchanged for a whole TTL by its own clock); the CAS guarantees
// that a renewal in the meantime wins.
func (l *Lease) TakeOver(ctx context.Context, rev uint64) (Grant, error) {
	now := l.now()
	v, err := Encode(LeaseValue{V: Version, Holder: l.node, Boot: l.boot, Acquired: now, Renewed: now})
	if err != nil {
		return Grant{}, err
	}
	nrev, err := l.kv.Update(ctx, LeaseKey, v, rev)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return Grant{}, &HeldError{}
		}
		return Grant{}, fmt.Errorf("taking over manager lease: %w", err)
	}
	return Grant{Epoch: nrev, Revision: nrev, Acquired: now}, nil
}

// Renew extends g by rewriting the lease at its last revision. It returns
// ErrLeaseLost if the lease is now another holder's, ErrLeaseMissing if
// it reads as absent.
func (l *Lease) Renew(ctx context.Context, g Grant) (Grant, error) {
	v, err := Encode(LeaseValue{V: Version, Holder: l.node, Boot: l.boot, Epoch: g.Epoch, Acquired: g.Acquired, Renewed: l.now()})
	if err != nil {
		return g, err
	}
	rev, err := l.kv.Update(ctx, LeaseKey, v, g.Revision)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			// An earlier renewal whose reply we never got may have been
			// stored after all. A value naming this process and this epoch
			// can only be our own write, so we carry on from its revision.
			e, gerr := l.kv.Get(ctx, LeaseKey)
			switch {
			case errors.Is(gerr, jetstream.ErrKeyNotFound):
				return g, fmt.Errorf("%w after a failed renewal at revision %d", ErrLeaseMissing, g.Revision)
			case gerr != nil:
				return g, fmt.Errorf("reading manager lease after a failed renewal: %w", gerr)
			}
			cur, derr := DecodeLeaseValue(e.Value())
			if derr == nil && cur.Holder == l.node && cur.Boot == l.boot && cur.Epoch == g.Epoch {
				g.Revision, g.Adopted = e.Revision(), true
				return g, nil
			}
			return g, fmt.Errorf("%w: now held by %s (boot %s) at revision %d", ErrLeaseLost, cur.Holder, cur.Boot, e.Revision())
		}
		return g, fmt.Errorf("renewing manager lease: %w", err)
	}
	g.Revision, g.Adopted = rev, false
	return g, nil
}

// Release deletes the lease if g still holds it, so a successor need not
// wait for it to expire.
func (l *Lease) Release(ctx context.Context, g Grant) error {
	err := l.kv.Delete(ctx, LeaseKey, jetstream.LastRevision(g.Revision))
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return ErrLeaseLost
		}
		return fmt.Errorf("releasing manager lease: %w", err)
	}
	return nil
}

// Current reads the lease for display: its holder and epoch. It returns
// jetstream.ErrKeyNotFound when nobody holds it.
func (l *Lease) Current(ctx context.Context) (LeaseValue, uint64, error) {
	e, err := l.kv.Get(ctx, LeaseKey)
	if err != nil {
		return LeaseValue{}, 0, err
	}
	v, err := DecodeLeaseValue(e.Value())
	if err != nil {
		return LeaseValue{}, 0, err
	}
	epoch := v.Epoch
	if epoch == 0 {
		epoch = e.Revision()
	}
	return v, epoch, nil
}

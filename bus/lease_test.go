package bus

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLeaseOnRealKV(t *testing.T) {
	_, js := startTestServer(t, t.TempDir())
	st := openTestStores(t, js)
	ctx := context.Background()
	a := NewLease(st.Election, "a", "boot-a", nil)
	b := NewLease(st.Election, "b", "boot-b", nil)

	ga, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("b.Acquire while a holds: %v, want ErrLeaseHeld", err)
	}
	ga2, err := a.Renew(ctx, ga)
	if err != nil || ga2.Epoch != ga.Epoch || ga2.Revision <= ga.Revision {
		t.Fatalf("renew: %+v, %v", ga2, err)
	}
	// A renewal from a stale grant fails: the revision moved on.
	if _, err := a.Renew(ctx, Grant{Epoch: 99, Revision: ga.Revision}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale renew: %v, want ErrLeaseLost", err)
	}
	holder, epoch, err := b.Current(ctx)
	if err != nil || holder.Holder != "a" || epoch != ga.Epoch {
		t.Fatalf("Current = %+v epoch %d, %v", holder, epoch, err)
	}
	if err := a.Release(ctx, ga2); err != nil {
		t.Fatal(err)
	}
	gb, err := b.Acquire(ctx)
	if err != nil {
		t.Fatalf("b.Acquire after release: %v", err)
	}
	if gb.Epoch <= ga.Epoch {
		t.Fatalf("b epoch %d, want > %d", gb.Epoch, ga.Epoch)
	}
	// Left alone, the lease outlives one TTL (a candidate takes it over by
	// CAS then; the server keeps it for a holder to resume), and the server
	// expires it after LeaseKeepFactor TTLs, when a can create it anew.
	const ttl = 2 * time.Second // openTestStores
	time.Sleep(ttl + ttl/2)
	if _, err := a.Acquire(ctx); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("a.Acquire 1.5 TTL after b's last write: %v, want ErrLeaseHeld", err)
	}
	deadline := time.Now().Add(LeaseKeepFactor*ttl + 5*time.Second)
	for {
		g, err := a.Acquire(ctx)
		if err == nil {
			if g.Epoch <= gb.Epoch {
				t.Fatalf("epoch after expiry %d, want > %d", g.Epoch, gb.Epoch)
			}
			break
		}
		if !errors.Is(err, ErrLeaseHeld) || time.Now().After(deadline) {
			t.Fatalf("lease did not expire: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package lab

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// owner asks the witness who owns web.
func owner(t *testing.T, l *Lab) string { return vipView(t, l, "wit1", "web").Owner }

// TestPrivilegedVIPNeverTwoOwners drives at least 50 ownership changes of
// a VIP through every kind of trouble — agent kills, link cuts, bus
// partitions made with nftables, agent restarts, preemption cycles, drains
// — while an observer on the client asks for the VIP every 10 ms; it fails
// if any request is answered by two different MACs, or if the VIP ends up
// unserved.
func TestPrivilegedVIPNeverTwoOwners(t *testing.T) {
	privileged(t)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	want := 50
	if n, err := strconv.Atoi(os.Getenv("DROVER_SOAK_CHANGES")); err == nil && n > 0 {
		want = n
	}
	l := up(t, vipTopology("tv2"), droverBin)
	keepLogs(t, l)
	waitFormed(t, l, 3, "wit1", "dir1", "dir2")
	waitOwner(t, l, "web", "dir1", 20*time.Second)
	for _, h := range []string{"dir1", "dir2"} {
		echo(t, l, h)
	}
	arp := watchARP(t, l, webVIP)
	web := probe(t, l, webVIP)
	ctx := context.Background()

	changes, last := 0, "dir1"
	note := func(what string) {
		if o := owner(t, l); o != "" && o != last {
			changes++
			t.Logf("%s change %d: %s -> %s (%s)", time.Now().Format("15:04:05.000"), changes, last, o, what)
			last = o
		}
	}
	other := func(h string) string {
		if h == "dir1" {
			return "dir2"
		}
		return "dir1"
	}
	deadline := time.Now().Add(8 * time.Minute)
	for round := 0; changes < want; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d ownership changes in 8 minutes", changes)
		}
		o := last
		switch round % 6 {
		case 0: // crash of the owner's agent, and its return (preemption back, or not)
			must(t, l.Kill(o))
			waitOwner(t, l, "web", other(o), 10*time.Second)
			note("kill " + o)
			must(t, l.Start(o))
			waitFormed(t, l, 3, "wit1")
			time.Sleep(500 * time.Millisecond)
			note("start " + o)
		case 1: // the owner's link goes down and comes back
			must(t, l.LinkDown(o))
			waitOwner(t, l, "web", other(o), 10*time.Second)
			note("link down " + o)
			must(t, l.LinkUp(o))
			waitFormed(t, l, 3, "wit1")
			time.Sleep(500 * time.Millisecond)
			note("link up " + o)
		case 2: // bus partitions: the owner (keeps it, UDP flows), then the other
			partition(t, l, o)
			time.Sleep(1500 * time.Millisecond)
			unpartition(t, l, o)
			partition(t, l, other(o))
			time.Sleep(1500 * time.Millisecond)
			unpartition(t, l, other(o))
			waitFormed(t, l, 3, "wit1")
			note("bus partitions")
		case 3: // drain the owner, undrain
			if out, err := l.Drover(ctx, "wit1", "node", "drain", o); err != nil {
				t.Fatalf("drain %s: %v\n%s", o, err, out)
			}
			note("drain " + o)
			if out, err := l.Drover(ctx, "wit1", "node", "undrain", o); err != nil {
				t.Fatalf("undrain %s: %v\n%s", o, err, out)
			}
			time.Sleep(time.Second)
			note("undrain " + o)
		case 4: // graceful restart of the owner's agent (hitless)
			must(t, l.Stop(o))
			must(t, l.Start(o))
			waitFormed(t, l, 3, "wit1")
			note("restart " + o)
		case 5: // restart the other director: preemption cycles if it is dir1
			must(t, l.Kill(other(o)))
			time.Sleep(time.Second)
			must(t, l.Start(other(o)))
			waitFormed(t, l, 3, "wit1")
			time.Sleep(500 * time.Millisecond)
			note("restart " + other(o))
		}
		arp.check(t)
		if t.Failed() {
			return
		}
	}
	web.waitServed(t, web.mark(), last, 5*time.Second)
	arp.check(t)
	t.Logf("%d ownership changes; %s", changes, arpRounds(arp))
}

func arpRounds(w *arpWatch) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("%d ARP rounds observed, %d answered by two MACs", w.asked, len(w.twice))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

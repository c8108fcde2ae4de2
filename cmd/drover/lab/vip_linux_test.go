package lab

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/droverha/drover/model"
)

func vipView(t *testing.T, l *Lab, host, group string) model.VIPGroupView {
	t.Helper()
	var (
		v   model.View
		err error
	)
	for range 5 {
		if v, err = view(l, host); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Logf("asking %s for status: %v", host, err)
		return model.VIPGroupView{}
	}
	for _, g := range v.VIPGroups {
		if g.Name == group {
			return g
		}
	}
	return model.VIPGroupView{}
}

// waitOwner waits until the witness reports group owned and held by host
// alone.
func waitOwner(t *testing.T, l *Lab, group, host string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		g := vipView(t, l, "wit1", group)
		if g.Owner == host && g.From == "" && slices.Equal(g.HeldBy, []string{host}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: owner %q held by %v (%s), want %s", group, g.Owner, g.HeldBy, g.Reason, host)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPrivilegedVIPTakeover runs real agents in the lab: the client's ARP
// entry for the VIP follows the owner, traffic resumes after a crash and
// after a link cut, a graceful move loses no probe, MAC takeover keeps the
// virtual MAC, a bus-isolated owner keeps its VIP, a restart is hitless,
// and no ARP request is ever answered by two MACs.
func TestPrivilegedVIPTakeover(t *testing.T) {
	privileged(t)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	l := up(t, vipTopology("tv1"), droverBin)
	keepLogs(t, l)
	waitFormed(t, l, 3, "wit1", "dir1", "dir2")
	waitOwner(t, l, "web", "dir1", 20*time.Second)
	waitOwner(t, l, "mac", "dir2", 20*time.Second)
	for _, h := range []string{"dir1", "dir2"} {
		echo(t, l, h)
	}
	if v, _ := view(l, "wit1"); v.Manager != "wit1" {
		t.Errorf("manager is %q, want the witness wit1", v.Manager)
	}
	arp := watchARP(t, l, webVIP, macVIP)
	web := probe(t, l, webVIP)
	web6 := probe(t, l, webVIP6)
	mac := probe(t, l, macVIP)
	web.waitServed(t, 0, "dir1", 5*time.Second)
	web6.waitServed(t, 0, "dir1", 5*time.Second)
	mac.waitServed(t, 0, "dir2", 5*time.Second)
	waitNeighbour(t, l, webVIP, l.MAC("dir1").String(), 2*time.Second)
	waitNeighbour(t, l, macVIP, "00:00:5e:00:01:07", 2*time.Second)

	// SIGKILL of the owner's agent: the guard drops the address, dir2 takes
	// over and announces; the client's entry moves to dir2's MAC.
	from := web.mark()
	if err := l.Kill("dir1"); err != nil {
		t.Fatal(err)
	}
	web.waitServed(t, from, "dir2", 5*time.Second)
	waitNeighbour(t, l, webVIP, l.MAC("dir2").String(), 2*time.Second)
	g, _, _ := web.gap(from)
	t.Logf("web after SIGKILL of dir1's agent: service gap %v", g.Round(time.Millisecond))
	// IPv6: the unsolicited neighbour advertisement moves the client's entry.
	web6.waitServed(t, from, "dir2", 5*time.Second)
	waitNeighbour(t, l, webVIP6, l.MAC("dir2").String(), 2*time.Second)

	// dir1 returns and preempts gracefully: no probe lost.
	from = web.mark()
	if err := l.Start("dir1"); err != nil {
		t.Fatal(err)
	}
	web.waitServed(t, from, "dir1", 30*time.Second)
	waitOwner(t, l, "web", "dir1", 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if g, _, lost := web.gap(from); lost > 0 {
		t.Errorf("graceful preemption back to dir1 lost %d probes (gap %v)", lost, g)
	}

	// The owner's link goes down: dir1 is cut off on both paths, fences
	// itself, dir2 takes over; link up: back to dir1.
	from = web.mark()
	if err := l.LinkDown("dir1"); err != nil {
		t.Fatal(err)
	}
	web.waitServed(t, from, "dir2", 5*time.Second)
	waitNeighbour(t, l, webVIP, l.MAC("dir2").String(), 2*time.Second)
	g, _, _ = web.gap(from)
	t.Logf("web after dir1's link went down: service gap %v", g.Round(time.Millisecond))
	if err := l.LinkUp("dir1"); err != nil {
		t.Fatal(err)
	}
	waitOwner(t, l, "web", "dir1", 30*time.Second)
	web.waitServed(t, web.mark(), "dir1", 5*time.Second)

	// MAC takeover: kill mac's owner; the client's entry stays the virtual
	// MAC while dir1 now answers.
	from = mac.mark()
	if err := l.Kill("dir2"); err != nil {
		t.Fatal(err)
	}
	mac.waitServed(t, from, "dir1", 5*time.Second)
	if got := neighbour(l, macVIP); got != "00:00:5e:00:01:07" {
		t.Errorf("client's entry for the MAC-mode VIP is %s, want the virtual MAC", got)
	}
	if err := l.Start("dir2"); err != nil {
		t.Fatal(err)
	}
	waitOwner(t, l, "mac", "dir2", 30*time.Second)

	// Bus partition (nftables), UDP still flowing: dir1 keeps web.
	partition(t, l, "dir1")
	time.Sleep(3 * time.Second)
	if g := vipView(t, l, "wit1", "web"); g.Owner != "dir1" {
		t.Errorf("bus-isolated dir1 lost web: owner %q (%s)", g.Owner, g.Reason)
	}
	web.waitServed(t, web.mark(), "dir1", 2*time.Second)
	unpartition(t, l, "dir1")
	waitFormed(t, l, 3, "wit1")

	// Hitless restart of the owner's agent.
	time.Sleep(time.Second)
	from = web.mark()
	if err := l.Stop("dir1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Start("dir1"); err != nil {
		t.Fatal(err)
	}
	waitFormed(t, l, 3, "wit1")
	time.Sleep(time.Second)
	if g, host, lost := web.gap(from); lost > 0 || host != "dir1" {
		t.Errorf("restart of dir1's agent: %d probes lost (gap %v), last served by %s", lost, g, host)
	}
	arp.check(t)
}

// keepLogs copies the agents' logs to the temporary directory when the test
// fails: the lab's state goes with it.
func keepLogs(t *testing.T, l *Lab) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, h := range []string{"dir1", "dir2", "wit1"} {
			dst := filepath.Join(os.TempDir(), "drover-"+l.Name()+"-"+h+".log")
			if b, err := os.ReadFile(l.LogPath(h)); err == nil && os.WriteFile(dst, b, 0o644) == nil {
				t.Logf("%s's log kept in %s", h, dst)
			}
		}
	})
}

package vip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netns"
)

// privileged skips a test that needs root, or fails it when CI demands
// privileged tests (DROVER_PRIVILEGED_TESTS=1).
func privileged(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("ip"); err == nil {
			return
		}
	}
	if os.Getenv("DROVER_PRIVILEGED_TESTS") == "1" {
		t.Fatal("privileged test cannot run: needs root and iproute2 (DROVER_PRIVILEGED_TESTS=1)")
	}
	t.Skip("needs root and iproute2")
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pair makes two namespaces joined by a veth pair, deleted when the test
// ends: the host gets 192.0.2.1/24 and 2001:db8::1/64, the client .10/::10.
func pair(t *testing.T) (host, client, hostIf, clientIf string) {
	t.Helper()
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	host, client = "drvt"+id+"h", "drvt"+id+"c"
	hostIf, clientIf = "dvt"+id+"a", "dvt"+id+"b"
	exec.Command("ip", "netns", "del", host).Run()
	exec.Command("ip", "netns", "del", client).Run()
	run(t, "ip", "netns", "add", host)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", host).Run() })
	run(t, "ip", "netns", "add", client)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", client).Run() })
	run(t, "ip", "-n", host, "link", "add", hostIf, "type", "veth", "peer", "name", clientIf, "netns", client)
	for _, c := range [][]string{
		{"ip", "-n", host, "addr", "add", "192.0.2.1/24", "dev", hostIf},
		{"ip", "-n", host, "addr", "add", "2001:db8::1/64", "dev", hostIf, "nodad"},
		{"ip", "-n", host, "link", "set", hostIf, "up"},
		{"ip", "-n", host, "link", "set", "lo", "up"},
		{"ip", "-n", client, "addr", "add", "192.0.2.10/24", "dev", clientIf},
		{"ip", "-n", client, "addr", "add", "2001:db8::10/64", "dev", clientIf, "nodad"},
		{"ip", "-n", client, "link", "set", clientIf, "up"},
	} {
		run(t, c...)
	}
	return host, client, hostIf, clientIf
}

// inNS runs fn on a thread in namespace ns; sockets fn opens live there.
func inNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, _ := netns.Get()
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	fn()
}

// reach checks that the client reaches ip on the host over TCP.
func reach(t *testing.T, host, client string, ip netip.Addr) {
	t.Helper()
	var ln net.Listener
	inNS(t, host, func() {
		var err error
		if ln, err = net.Listen("tcp", netip.AddrPortFrom(ip, 0).String()); err != nil {
			t.Fatalf("listening on %s in %s: %v", ip, host, err)
		}
	})
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	inNS(t, client, func() {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
		if err != nil {
			t.Fatalf("client cannot reach %s: %v", ln.Addr(), err)
		}
		c.Close()
	})
}

// listen opens a raw packet socket in namespace ns.
func listen(t *testing.T, ns, ifname string, proto int) *packet.Conn {
	t.Helper()
	var c *packet.Conn
	inNS(t, ns, func() { c = listenHere(t, ifname, proto) })
	return c
}

func listenHere(t *testing.T, ifname string, proto int) *packet.Conn {
	t.Helper()
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	c, err := packet.Listen(ifi, packet.Raw, proto, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func linkMAC(t *testing.T, ns, ifname string) string {
	t.Helper()
	out := run(t, "ip", "-n", ns, "-o", "link", "show", ifname)
	f := strings.Fields(out[strings.Index(out, "link/ether"):])
	return f[1]
}

// arpAnswers sends an ARP request for ip from the client and returns the
// distinct MACs that answer within d.
func arpAnswers(t *testing.T, c *packet.Conn, clientMAC net.HardwareAddr, ip netip.Addr, d time.Duration) []string {
	t.Helper()
	req, _ := ARP{Op: ARPRequest, SenderMAC: clientMAC, SenderIP: netip.MustParseAddr("192.0.2.10"),
		TargetMAC: zeroMAC, TargetIP: ip}.Frame(broadcastMAC)
	if _, err := c.WriteTo(req, &packet.Addr{HardwareAddr: broadcastMAC}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(d)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) {
		c.SetReadDeadline(deadline)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			break
		}
		_, a, err := ParseARPFrame(buf[:n])
		if err == nil && a.Op == ARPReply && a.SenderIP == ip {
			seen[a.SenderMAC.String()] = true
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	return out
}

func TestPrivilegedAddressesAndAnnouncements(t *testing.T) {
	privileged(t)
	host, client, hostIf, clientIf := pair(t)
	c, err := New(Options{NetNS: "/var/run/netns/" + host})
	if err != nil {
		t.Fatal(err)
	}
	g := Group{Name: "web", Interface: hostIf,
		Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24"), netip.MustParsePrefix("2001:db8::100/64")},
		GARP:      GARP{Count: 2, Interval: 10 * time.Millisecond, Mode: ModeBoth}}
	ctx := context.Background()

	if held, _ := c.Held(g); held {
		t.Fatal("held before acquire")
	}
	if changed, err := c.Acquire(ctx, g); err != nil || !changed {
		t.Fatalf("Acquire = %v, %v; want changed", changed, err)
	}
	if changed, err := c.Acquire(ctx, g); err != nil || changed {
		t.Fatalf("second Acquire = %v, %v; want idempotent", changed, err)
	}
	reach(t, host, client, netip.MustParseAddr("192.0.2.100"))
	reach(t, host, client, netip.MustParseAddr("2001:db8::100"))

	// Removed by hand: not held any more, and Acquire restores it.
	run(t, "ip", "-n", host, "addr", "del", "192.0.2.100/24", "dev", hostIf)
	if held, _ := c.Held(g); held {
		t.Fatal("held after the address was removed by hand")
	}
	if changed, err := c.Acquire(ctx, g); err != nil || !changed {
		t.Fatalf("restoring Acquire = %v, %v", changed, err)
	}

	// Announcements reach the client: both ARP forms and the NA.
	arpC := listen(t, client, clientIf, etherTypeARP)
	ndC := listen(t, client, clientIf, etherTypeIPv6)
	if err := c.Announce(ctx, g); err != nil {
		t.Fatal(err)
	}
	hostMAC := linkMAC(t, host, hostIf)
	ops := map[uint16]int{}
	buf := make([]byte, 1500)
	arpC.SetReadDeadline(time.Now().Add(time.Second))
	for ops[ARPRequest] < 2 || ops[ARPReply] < 2 {
		n, _, err := arpC.ReadFrom(buf)
		if err != nil {
			t.Fatalf("gratuitous ARP seen: %v, then %v", ops, err)
		}
		src, a, err := ParseARPFrame(buf[:n])
		if err != nil || a.SenderIP != netip.MustParseAddr("192.0.2.100") || a.TargetIP != a.SenderIP {
			continue
		}
		if a.SenderMAC.String() != hostMAC || src.String() != hostMAC {
			t.Fatalf("GARP from %s/%s, want %s", src, a.SenderMAC, hostMAC)
		}
		ops[a.Op]++
	}
	ndC.SetReadDeadline(time.Now().Add(time.Second))
	for {
		n, _, err := ndC.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no unsolicited NA for 2001:db8::100: %v", err)
		}
		target, mac, err := ParseNA(buf[:n])
		if err == nil && target == netip.MustParseAddr("2001:db8::100") {
			if mac.String() != hostMAC {
				t.Fatalf("NA carries %s, want %s", mac, hostMAC)
			}
			break
		}
	}

	if err := c.Release(ctx, g); err != nil {
		t.Fatal(err)
	}
	if held, _ := c.Held(g); held {
		t.Fatal("held after release")
	}
	if err := c.Release(ctx, g); err != nil {
		t.Fatalf("second release: %v", err)
	}
}

func TestPrivilegedVirtualMAC(t *testing.T) {
	privileged(t)
	host, client, hostIf, clientIf := pair(t)
	c, err := New(Options{NetNS: "/var/run/netns/" + host})
	if err != nil {
		t.Fatal(err)
	}
	vmac, _ := net.ParseMAC("00:00:5e:00:01:01")
	g := Group{Name: "web", Interface: hostIf, VirtualMAC: vmac,
		Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24")},
		GARP:      GARP{Count: 1, Mode: ModeRequest}}
	ctx := context.Background()
	if _, err := c.Acquire(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := c.Announce(ctx, g); err != nil {
		t.Fatal(err)
	}
	clientMAC, _ := net.ParseMAC(linkMAC(t, client, clientIf))
	arpC := listen(t, client, clientIf, etherTypeARP)
	got := arpAnswers(t, arpC, clientMAC, netip.MustParseAddr("192.0.2.100"), 300*time.Millisecond)
	if len(got) != 1 || got[0] != vmac.String() {
		t.Fatalf("ARP answers for the VIP from %v, want only %s", got, vmac)
	}
	reach(t, host, client, netip.MustParseAddr("192.0.2.100"))
	if err := c.Release(ctx, g); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-n", host, "-o", "link"); strings.Contains(out, LinkName("web")) {
		t.Fatalf("macvlan still there after release:\n%s", out)
	}
}

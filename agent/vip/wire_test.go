package vip

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestARPRoundTrip(t *testing.T) {
	mac, _ := net.ParseMAC("00:00:5e:00:01:07")
	ip := netip.MustParseAddr("192.0.2.100")
	for _, op := range []uint16{ARPRequest, ARPReply} {
		a := GratuitousARP(op, mac, ip)
		f, err := a.Frame(broadcastMAC)
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != 42 {
			t.Fatalf("frame length %d, want 42", len(f))
		}
		src, got, err := ParseARPFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		if src.String() != mac.String() {
			t.Errorf("source %s", src)
		}
		if diff := cmp.Diff(a, got, cmp.Comparer(func(x, y net.HardwareAddr) bool { return x.String() == y.String() }),
			cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
			t.Errorf("op %d (-sent +parsed):\n%s", op, diff)
		}
	}
	if _, err := GratuitousARP(ARPRequest, mac, netip.MustParseAddr("2001:db8::1")).Frame(broadcastMAC); err == nil {
		t.Error("ARP for an IPv6 address accepted")
	}
}

func TestUnsolicitedNA(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	ip := netip.MustParseAddr("2001:db8::100")
	f, err := UnsolicitedNA(mac, ip)
	if err != nil {
		t.Fatal(err)
	}
	target, tlla, err := ParseNA(f)
	if err != nil || target != ip || tlla.String() != mac.String() {
		t.Fatalf("ParseNA = %v %v %v", target, tlla, err)
	}
	// The checksum verifies: summing the message with it gives 0xffff.
	src, dst := ip.As16(), netip.MustParseAddr("ff02::1").As16()
	if c := icmpv6Checksum(src, dst, f[54:]); c != 0 {
		t.Errorf("checksum over the sent message = %#x, want 0", c)
	}
	if f[14+7] != 255 || f[54+4] != 0x20 {
		t.Errorf("hop limit %d flags %#x, want 255 and override only", f[14+7], f[54+4])
	}
}

func FuzzParseARPFrame(f *testing.F) {
	mac, _ := net.ParseMAC("00:00:5e:00:01:07")
	seed, _ := GratuitousARP(ARPReply, mac, netip.MustParseAddr("192.0.2.1")).Frame(broadcastMAC)
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		src, a, err := ParseARPFrame(b)
		if err != nil {
			return
		}
		again, err := a.Frame(broadcastMAC)
		if err != nil {
			t.Fatalf("parsed ARP does not render: %v", err)
		}
		if _, b2, err := ParseARPFrame(again); err != nil || b2.Op != a.Op || b2.SenderIP != a.SenderIP || len(src) != 6 {
			t.Fatalf("round trip: %+v vs %+v (%v)", a, b2, err)
		}
	})
}

func FuzzParseNA(f *testing.F) {
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	seed, _ := UnsolicitedNA(mac, netip.MustParseAddr("2001:db8::1"))
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = ParseNA(b) // must not panic
	})
}

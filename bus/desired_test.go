package bus

import (
	"errors"
	"net/netip"
	"regexp"
	"testing"
)

// kvKey is what NATS KV accepts as a key.
var kvKey = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

func TestRealServerKey(t *testing.T) {
	for _, tc := range []struct{ service, addr, key string }{
		{"web", "198.51.100.21:80", "rs.web.198.51.100.21_80"},
		{"dns", "[2001:db8::21]:53", "rs.dns.2001_db8__21_53"},
		{"dns", "[::]:0", "rs.dns.___0"},
		{"v4in6", "[::ffff:198.51.100.1]:8080", "rs.v4in6.__ffff_198.51.100.1_8080"},
		{"a-b_c", "[2001:db8:1:2:3:4:5:6]:65535", "rs.a-b_c.2001_db8_1_2_3_4_5_6_65535"},
	} {
		ap := netip.MustParseAddrPort(tc.addr)
		key, err := RealServerKey(tc.service, ap)
		if err != nil {
			t.Fatalf("RealServerKey(%s, %s): %v", tc.service, tc.addr, err)
		}
		if key != tc.key {
			t.Errorf("RealServerKey(%s, %s) = %q, want %q", tc.service, tc.addr, key, tc.key)
		}
		if !kvKey.MatchString(key) {
			t.Errorf("%q is not a valid KV key", key)
		}
		s, back, err := ParseRealServerKey(key)
		if err != nil || s != tc.service || back != ap {
			t.Errorf("ParseRealServerKey(%q) = %s, %s, %v; want %s, %s", key, s, back, err, tc.service, ap)
		}
	}
}

func TestRealServerKeyRejects(t *testing.T) {
	if _, err := RealServerKey("a.b", netip.MustParseAddrPort("192.0.2.1:80")); err == nil {
		t.Error("service a.b accepted")
	}
	if _, err := RealServerKey("web", netip.MustParseAddrPort("[fe80::1%eth0]:80")); err == nil {
		t.Error("zoned address accepted")
	}
	for _, k := range []string{
		"drain.a", "rs.web", "rs.web.", "rs..192.0.2.1_80", "rs.web.192.0.2.1",
		"rs.web.192.0.2.1_", "rs.web.192.0.2.1_65536", "rs.web.192.0.2.1_+80", "rs.web.192.0.2.1_080",
		"rs.web.2001_0db8__21_53", "rs.web.2001_DB8__21_53", "rs.web.192.0.2.1:80", "rs.web.x_80",
	} {
		if _, _, err := ParseRealServerKey(k); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseRealServerKey(%q) = %v, want ErrMalformed", k, err)
		}
	}
}

// FuzzParseRealServerKey: whatever a key holds, an accepted one encodes
// back to itself.
func FuzzParseRealServerKey(f *testing.F) {
	for _, s := range []string{"rs.web.198.51.100.21_80", "rs.dns.2001_db8__21_53", "rs.x.___0", "rs.web.1.2.3.4_08"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		s, ap, err := ParseRealServerKey(key)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := RealServerKey(s, ap)
		if err != nil || again != key {
			t.Fatalf("ParseRealServerKey(%q) = %s, %s; encodes back to %q, %v", key, s, ap, again, err)
		}
	})
}

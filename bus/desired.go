package bus

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/droverha/drover/model"
)

// Keys of the desired bucket.
const (
	DrainPrefix      = "drain."
	MovePrefix       = "move."
	RealServerPrefix = "rs."
)

// RealServerKey is the desired bucket's key for the administrative state
// of the real server addr of service: "rs.<service>.<address>", where the
// address is addr in its canonical text form (netip.AddrPort.String())
// without brackets and with every ':' written as '_', since KV keys allow
// only [-/_=.a-zA-Z0-9]: 198.51.100.21:80 is "198.51.100.21_80",
// [2001:db8::21]:53 is "2001_db8__21_53". The port is what follows the
// last '_'. An address with an IPv6 zone has no key.
func RealServerKey(service string, addr netip.AddrPort) (string, error) {
	if !model.ValidName(service) {
		return "", fmt.Errorf("invalid service name %q", service)
	}
	if !addr.IsValid() || addr.Addr().Zone() != "" {
		return "", fmt.Errorf("real server address %q cannot be a key", addr)
	}
	return RealServerPrefix + service + "." + encodeAddrPort(addr), nil
}

func encodeAddrPort(addr netip.AddrPort) string {
	return strings.ReplaceAll(addr.Addr().String(), ":", "_") + "_" + fmt.Sprint(addr.Port())
}

// ParseRealServerKey is RealServerKey's inverse. Only the canonical
// encoding is accepted, so every real server has exactly one key.
func ParseRealServerKey(key string) (service string, addr netip.AddrPort, err error) {
	rest, ok := strings.CutPrefix(key, RealServerPrefix)
	if !ok {
		return "", netip.AddrPort{}, fmt.Errorf("%w: key %q: not a real server key", ErrMalformed, key)
	}
	service, enc, ok := strings.Cut(rest, ".")
	if !ok || !model.ValidName(service) {
		return "", netip.AddrPort{}, fmt.Errorf("%w: key %q: no service", ErrMalformed, key)
	}
	i := strings.LastIndexByte(enc, '_')
	if i < 0 {
		return "", netip.AddrPort{}, fmt.Errorf("%w: key %q: no port", ErrMalformed, key)
	}
	ip, err := netip.ParseAddr(strings.ReplaceAll(enc[:i], "_", ":"))
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("%w: key %q: %v", ErrMalformed, key, err)
	}
	var port uint16
	if _, err := fmt.Sscan(enc[i+1:], &port); err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("%w: key %q: port: %v", ErrMalformed, key, err)
	}
	addr = netip.AddrPortFrom(ip, port)
	if ip.Zone() != "" || encodeAddrPort(addr) != enc {
		return "", netip.AddrPort{}, fmt.Errorf("%w: key %q: not the canonical form %q", ErrMalformed, key, RealServerPrefix+service+"."+encodeAddrPort(addr))
	}
	return service, addr, nil
}

// PutDesired records an operator request d in the cluster's desired
// bucket under key ("drain.<node>", "move.<group>" or RealServerKey), where the manager
// (any future one too) finds it. It stamps d with the schema version and
// the time; d.By is the caller's to fill.
//
// The bucket's Raft group may be electing a leader (after a node died), so
// it keeps trying until ctx ends. The write goes straight to the bucket's
// stream (what a KV put is), without asking the JetStream meta leader for
// the bucket first, which can take long after a partition.
func PutDesired(ctx context.Context, js jetstream.JetStream, cluster, key string, d Desired) error {
	subject := "$KV." + Subjects{Cluster: cluster}.DesiredBucket() + "." + key
	d.V, d.At = Version, time.Now().UTC()
	b, err := Encode(d)
	if err != nil {
		return fmt.Errorf("encoding the request: %w", err)
	}
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = js.Publish(pctx, subject, b)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("recording the request: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

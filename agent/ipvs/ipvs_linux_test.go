//go:build linux

package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// These tests need no root and no IPVS: the client talks to a
// genltest.Func through kernelSocket.

var ipvsFamily = genetlink.Family{ID: 0x2a, Name: familyName, Version: genlVersion}

// kernelSocket is a netlink.Socket that answers as the kernel does: every
// reply in a datagram of its own, an acknowledgement only when asked for,
// an error for every failed request, dumps closed by NLMSG_DONE. (nltest's
// socket keeps only the replies to the last request sent, so it cannot
// take the batches the client sends.) Each request goes to fn, which
// genltest.ServeFamily and genltest.CheckRequest compose with.
type kernelSocket struct {
	fn        genltest.Func
	queue     [][]netlink.Message
	datagrams [][]netlink.Message // as sent, for the tests to look at
	failRecv  error               // returned by the next Receive
}

func (s *kernelSocket) Close() error                 { return nil }
func (s *kernelSocket) Send(m netlink.Message) error { return s.SendMessages([]netlink.Message{m}) }

func (s *kernelSocket) SendMessages(ms []netlink.Message) error {
	s.datagrams = append(s.datagrams, append([]netlink.Message(nil), ms...))
	for _, m := range ms {
		var gm genetlink.Message
		if err := gm.UnmarshalBinary(m.Data); err != nil {
			return err
		}
		replies, err := s.fn(gm, m)
		if err != nil {
			var errno syscall.Errno
			if !errors.As(err, &errno) {
				var n int
				if _, scanErr := fmt.Sscanf(err.Error(), "genltest errno: %d", &n); scanErr != nil {
					return err // a test's own complaint: fail the send
				}
				errno = syscall.Errno(n)
			}
			s.queue = append(s.queue, []netlink.Message{ack(m, errno)})
			continue
		}
		var nms []netlink.Message
		for _, r := range replies {
			b, err := r.MarshalBinary()
			if err != nil {
				return err
			}
			nms = append(nms, netlink.Message{Header: netlink.Header{Type: m.Header.Type, Sequence: m.Header.Sequence, PID: m.Header.PID}, Data: b})
		}
		if m.Header.Flags&netlink.Dump != 0 {
			for i := range nms {
				nms[i].Header.Flags |= netlink.Multi
			}
			if len(nms) > 0 {
				s.queue = append(s.queue, nms)
			}
			s.queue = append(s.queue, []netlink.Message{{
				Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi, Sequence: m.Header.Sequence, PID: m.Header.PID},
				Data:   make([]byte, 4),
			}})
			continue
		}
		if len(nms) > 0 {
			s.queue = append(s.queue, nms)
		}
		if m.Header.Flags&netlink.Acknowledge != 0 {
			s.queue = append(s.queue, []netlink.Message{ack(m, 0)})
		}
	}
	return nil
}

// ack is the kernel's NLMSG_ERROR answer to m: errno 0 acknowledges.
func ack(m netlink.Message, errno syscall.Errno) netlink.Message {
	hdr, _ := netlink.Message{Header: m.Header}.MarshalBinary()
	data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	return netlink.Message{
		Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID},
		Data:   append(data, hdr[:16]...),
	}
}

func (s *kernelSocket) Receive() ([]netlink.Message, error) {
	if err := s.failRecv; err != nil {
		s.failRecv = nil
		return nil, err
	}
	if len(s.queue) == 0 {
		return nil, errors.New("kernelSocket: nothing to receive: the client waits for an answer the kernel would not send")
	}
	m := s.queue[0]
	s.queue = s.queue[1:]
	return m, nil
}

func testClient(t *testing.T, fn genltest.Func) (*client, *kernelSocket) {
	t.Helper()
	ks := &kernelSocket{fn: genltest.ServeFamily(ipvsFamily, fn)}
	c, err := newClient(netlink.NewConn(ks, nltest.PID), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ks.datagrams = nil // forget the family lookup
	return c, ks
}

// attr is a netlink attribute with its nested attributes parsed.
type attr struct {
	Type   uint16
	Data   []byte
	Nested []attr
}

func tree(t *testing.T, b []byte) []attr {
	t.Helper()
	as, err := netlink.UnmarshalAttributes(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []attr
	for _, a := range as {
		if a.Type&netlink.Nested != 0 {
			out = append(out, attr{Type: a.Type &^ netlink.Nested, Nested: tree(t, a.Data)})
		} else {
			out = append(out, attr{Type: a.Type, Data: a.Data})
		}
	}
	return out
}

func u16n(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func u32n(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func in6(s string) []byte {
	a := netip.MustParseAddr(s)
	if a.Is4() {
		v := a.As4()
		return append(v[:], make([]byte, 12)...)
	}
	v := a.As16()
	return v[:]
}

func TestRequestAttributes(t *testing.T) {
	web := Service{ServiceKey: tcp("192.0.2.10", 80), Scheduler: "rr"}
	webKey := []attr{{Type: svcAF, Data: u16n(2)}, {Type: svcProtocol, Data: u16n(6)}, {Type: svcAddr, Data: in6("192.0.2.10")}, {Type: svcPort, Data: []byte{0, 80}}}
	fwm6Key := []attr{{Type: svcAF, Data: u16n(10)}, {Type: svcFWMark, Data: u32n(6)}}
	full := func(key []attr, sched string, flags, timeout uint32, mask []byte) []attr {
		return append(append([]attr(nil), key...),
			attr{Type: svcSchedName, Data: []byte(sched + "\x00")},
			attr{Type: svcFlags, Data: append(u32n(flags), 0xff, 0xff, 0xff, 0xff)},
			attr{Type: svcTimeout, Data: u32n(timeout)},
			attr{Type: svcNetmask, Data: mask})
	}
	d := Destination{DestKey: DestKey{addr("198.51.100.1"), 8080}, Forward: ForwardDR, Weight: 3, UpperThreshold: 100, LowerThreshold: 10}
	dKey := []attr{{Type: destAddrFamily, Data: u16n(2)}, {Type: destAddr, Data: in6("198.51.100.1")}, {Type: destPort, Data: []byte{0x1f, 0x90}}}
	dFull := append(append([]attr(nil), dKey...),
		attr{Type: destFwdMethod, Data: u32n(3)}, attr{Type: destWeight, Data: u32n(3)},
		attr{Type: destUThresh, Data: u32n(100)}, attr{Type: destLThresh, Data: u32n(10)})

	for _, tc := range []struct {
		name string
		call func(c *client) error
		cmd  uint8
		want []attr
	}{
		{"create service", func(c *client) error { return c.CreateService(web) }, cmdNewService,
			[]attr{{Type: attrCmdService, Nested: full(webKey, "rr", 0, 0, []byte{255, 255, 255, 255})}}},
		{"create persistent service with a netmask", func(c *client) error {
			return c.CreateService(Service{ServiceKey: web.ServiceKey, Scheduler: "sh", Flags: FlagPersistent | FlagSHPort | FlagHashed, Timeout: 300, Netmask: 24})
		}, cmdNewService,
			[]attr{{Type: attrCmdService, Nested: full(webKey, "sh", 0x11, 300, []byte{255, 255, 255, 0})}}},
		{"update IPv6 fwmark service", func(c *client) error {
			return c.UpdateService(Service{ServiceKey: ServiceKey{Family: FamilyIPv6, FWMark: 6, Protocol: ProtocolTCP}, Flags: FlagPersistent, Timeout: 60, Netmask: 64})
		}, cmdSetService,
			[]attr{{Type: attrCmdService, Nested: full(fwm6Key, "wlc", 1, 60, u32n(64))}}},
		{"remove service", func(c *client) error { return c.RemoveService(web.ServiceKey) }, cmdDelService,
			[]attr{{Type: attrCmdService, Nested: webKey}}},
		{"create destination", func(c *client) error { return c.CreateDestination(web.ServiceKey, d) }, cmdNewDest,
			[]attr{{Type: attrCmdService, Nested: webKey}, {Type: attrCmdDest, Nested: dFull}}},
		{"update destination", func(c *client) error { return c.UpdateDestination(web.ServiceKey, d) }, cmdSetDest,
			[]attr{{Type: attrCmdService, Nested: webKey}, {Type: attrCmdDest, Nested: dFull}}},
		{"remove destination", func(c *client) error { return c.RemoveDestination(web.ServiceKey, d.DestKey) }, cmdDelDest,
			[]attr{{Type: attrCmdService, Nested: webKey}, {Type: attrCmdDest, Nested: dKey}}},
		{"remove IPv6 destination of a fwmark service", func(c *client) error {
			return c.RemoveDestination(ServiceKey{Family: FamilyIPv6, FWMark: 6}, DestKey{addr("2001:db8::5"), 0})
		}, cmdDelDest,
			[]attr{{Type: attrCmdService, Nested: fwm6Key}, {Type: attrCmdDest, Nested: []attr{
				{Type: destAddrFamily, Data: u16n(10)}, {Type: destAddr, Data: in6("2001:db8::5")}, {Type: destPort, Data: []byte{0, 0}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []attr
			c, _ := testClient(t, genltest.CheckRequest(ipvsFamily.ID, tc.cmd, netlink.Request|netlink.Acknowledge,
				func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
					if greq.Header.Version != genlVersion {
						t.Errorf("version %d", greq.Header.Version)
					}
					got = tree(t, greq.Data)
					return nil, nil
				}))
			if err := tc.call(c); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
		})
	}
}

func serviceMessage(si ServiceInfo) genetlink.Message {
	b, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: attrCmdService | netlink.Nested, Data: kernelService(si, uint32(si.Flags|FlagHashed))}})
	return genetlink.Message{Header: genetlink.Header{Command: cmdNewService, Version: genlVersion}, Data: b}
}

func destMessage(di DestinationInfo) genetlink.Message {
	b, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: attrCmdDest | netlink.Nested, Data: kernelDest(di)}})
	return genetlink.Message{Header: genetlink.Header{Command: cmdNewDest, Version: genlVersion}, Data: b}
}

func TestDumps(t *testing.T) {
	svcs := []ServiceInfo{
		{Service: Service{ServiceKey: tcp("192.0.2.10", 80).Normalize(), Scheduler: "rr", Netmask: 32}, Stats: sampleStats},
		{Service: Service{ServiceKey: ServiceKey{Family: FamilyIPv6, FWMark: 6}, Scheduler: "sh", Flags: FlagPersistent | FlagSHFallback, Timeout: 30, Netmask: 48}},
	}
	dests := []DestinationInfo{
		{Destination: Destination{DestKey: DestKey{addr("2001:db8::1"), 0}, Forward: ForwardTunnel, Weight: 2}, ActiveConns: 5, InactiveConns: 6, PersistConns: 7, Stats: sampleStats},
		{Destination: Destination{DestKey: DestKey{addr("2001:db8::2"), 0}, Forward: ForwardTunnel, Weight: 0, UpperThreshold: 9, LowerThreshold: 1}},
	}
	c, _ := testClient(t, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if nreq.Header.Flags != netlink.Request|netlink.Dump {
			t.Errorf("dump flags %v", nreq.Header.Flags)
		}
		switch greq.Header.Command {
		case cmdGetService:
			if len(greq.Data) != 0 {
				t.Errorf("service dump with attributes %v", tree(t, greq.Data))
			}
			return []genetlink.Message{serviceMessage(svcs[0]), serviceMessage(svcs[1])}, nil
		case cmdGetDest:
			want := []attr{{Type: attrCmdService, Nested: []attr{{Type: svcAF, Data: u16n(10)}, {Type: svcFWMark, Data: u32n(6)}}}}
			if diff := cmp.Diff(want, tree(t, greq.Data)); diff != "" {
				t.Errorf("destination dump request (-want +got):\n%s", diff)
			}
			return []genetlink.Message{destMessage(dests[0]), destMessage(dests[1])}, nil
		}
		return nil, genltest.Error(int(unix.EINVAL))
	})
	got, err := c.Services()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(svcs, got, addrs); diff != "" {
		t.Errorf("Services (-want +got):\n%s", diff)
	}
	gotDests, err := c.Destinations(ServiceKey{Family: FamilyIPv6, FWMark: 6})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dests, gotDests, addrs); diff != "" {
		t.Errorf("Destinations (-want +got):\n%s", diff)
	}
}

func TestEmptyDump(t *testing.T) {
	c, _ := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) { return nil, nil })
	got, err := c.Services()
	if err != nil || len(got) != 0 {
		t.Errorf("Services() = %v, %v; want none", got, err)
	}
}

func TestApplyPipelinesBatches(t *testing.T) {
	var ops []Op
	for i := range 300 {
		s := Service{ServiceKey: ServiceKey{Protocol: ProtocolTCP, Address: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Port: uint16(i)}}
		ops = append(ops, Op{Kind: OpCreateService, Service: s})
	}
	calls := 0
	c, ks := testClient(t, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		calls++
		if calls == 6 || calls == 200 || calls == 300 {
			return nil, genltest.Error(int(unix.EEXIST))
		}
		return nil, nil
	})
	applied, err := c.Apply(ops)
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an *ApplyError", err)
	}
	if ae.Attempted != 300 || len(ae.Failed) != 3 || ae.Failed[0].Op != ops[5] || ae.Failed[1].Op != ops[199] || ae.Failed[2].Op != ops[299] {
		t.Errorf("failed = %v", ae)
	}
	if !errors.Is(err, fs.ErrExist) || !errors.Is(err, unix.EEXIST) {
		t.Errorf("err = %v, want fs.ErrExist and EEXIST", err)
	}
	if len(applied) != 297 || applied[5] != ops[6] {
		t.Errorf("applied %d ops", len(applied))
	}
	var sizes []int
	for _, dg := range ks.datagrams {
		sizes = append(sizes, len(dg))
		for i, m := range dg {
			wantAck := i == len(dg)-1
			if got := m.Header.Flags&netlink.Acknowledge != 0; got != wantAck {
				t.Errorf("message %d of a datagram of %d: ack %v", i, len(dg), got)
			}
		}
	}
	if diff := cmp.Diff([]int{128, 128, 44}, sizes); diff != "" {
		t.Errorf("datagram sizes (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	web := Service{ServiceKey: tcp("192.0.2.10", 80), Scheduler: "nope"}
	d := dest("198.51.100.1", 80, ForwardNAT, 1)
	for _, tc := range []struct {
		name    string
		errno   syscall.Errno
		call    func(c *client) error
		target  error
		message string
	}{
		{"service exists", unix.EEXIST, func(c *client) error { return c.CreateService(web) }, fs.ErrExist,
			"ipvs -A -t 192.0.2.10:80 -s nope: service exists (file exists)"},
		{"no service", unix.ESRCH, func(c *client) error { return c.CreateDestination(web.ServiceKey, d) }, fs.ErrNotExist,
			"ipvs -a -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 1: no such service (no such process)"},
		{"no destination", unix.ENOENT, func(c *client) error { return c.RemoveDestination(web.ServiceKey, d.DestKey) }, fs.ErrNotExist,
			"ipvs -d -t 192.0.2.10:80 -r 198.51.100.1:80: no such destination (no such file or directory)"},
		{"no scheduler", unix.ENOENT, func(c *client) error { return c.CreateService(web) }, ErrUnknownScheduler,
			`ipvs -A -t 192.0.2.10:80 -s nope: ipvs: unknown scheduler "nope" (no module ip_vs_nope): no such file or directory`},
		{"other", unix.ERANGE, func(c *client) error { return c.UpdateDestination(web.ServiceKey, d) }, unix.ERANGE,
			"ipvs -e -t 192.0.2.10:80 -r 198.51.100.1:80 -m -w 1: numerical result out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
				return nil, genltest.Error(int(tc.errno))
			})
			err := tc.call(c)
			if !errors.Is(err, tc.target) {
				t.Errorf("err = %v, want %v", err, tc.target)
			}
			var oe *OpError
			if !errors.As(err, &oe) {
				t.Errorf("err = %T, want an *OpError", err)
			}
			if err != nil && err.Error() != tc.message {
				t.Errorf("err = %q\n want %q", err, tc.message)
			}
			if tc.target == fs.ErrNotExist && errors.Is(err, fs.ErrExist) || tc.target == ErrUnknownScheduler && errors.Is(err, fs.ErrNotExist) {
				t.Errorf("err = %v matches the wrong sentinel", err)
			}
		})
	}
}

func TestFamilyMissing(t *testing.T) {
	ks := &kernelSocket{fn: func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	}}
	_, err := newClient(netlink.NewConn(ks, nltest.PID), time.Second)
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("err = %v, want ErrNotSupported", err)
	}
}

func TestNewWithoutIPVS(t *testing.T) {
	c, err := New(Options{})
	if err == nil {
		c.Close()
		t.Skip("this kernel has IPVS")
	}
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("New() = %v, want ErrNotSupported", err)
	}
}

func TestTransportErrorDropsTheConnection(t *testing.T) {
	c, ks := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) { return nil, nil })
	ks.failRecv = unix.ENOBUFS
	err := c.CreateService(Service{ServiceKey: tcp("192.0.2.10", 80)})
	if !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("err = %v, want ENOBUFS", err)
	}
	var ae *ApplyError
	if errors.As(err, &ae) {
		t.Errorf("err = %v: a batch whose outcome is unknown is no ApplyError", err)
	}
	// The replies on that socket can no longer be matched: it is gone, and
	// this client (over a fake socket) cannot dial another.
	if _, err := c.Services(); err == nil || c.nl != nil {
		t.Errorf("Services() after a lost reply = %v", err)
	}
}

// fakeKernel answers IPVS requests from a Fake, decoding them with
// mdlayher/netlink's decoder (independent of the client's encoder).
func fakeKernel(t testing.TB, f *Fake) genltest.Func {
	return func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		var svc, dst []byte
		ad, err := netlink.NewAttributeDecoder(greq.Data)
		if err != nil {
			return nil, err
		}
		for ad.Next() {
			switch ad.Type() {
			case attrCmdService:
				svc = ad.Bytes()
			case attrCmdDest:
				dst = ad.Bytes()
			}
		}
		s, err := parseService(svc)
		if err != nil && greq.Header.Command != cmdGetService {
			return nil, genltest.Error(int(unix.EINVAL))
		}
		d, err := parseDest(dst, s.Family)
		if err != nil && (greq.Header.Command >= cmdNewDest && greq.Header.Command <= cmdDelDest) {
			return nil, genltest.Error(int(unix.EINVAL))
		}
		switch greq.Header.Command {
		case cmdGetService:
			svcs, _ := f.Services()
			var out []genetlink.Message
			for _, si := range svcs {
				out = append(out, serviceMessage(si))
			}
			return out, nil
		case cmdGetDest:
			ds, _ := f.Destinations(s.ServiceKey)
			var out []genetlink.Message
			for _, di := range ds {
				out = append(out, destMessage(di))
			}
			return out, nil
		case cmdNewService:
			err = f.CreateService(s)
		case cmdSetService:
			err = f.UpdateService(s)
		case cmdDelService:
			err = f.RemoveService(s.ServiceKey)
		case cmdNewDest:
			err = f.CreateDestination(s.ServiceKey, d)
		case cmdSetDest:
			err = f.UpdateDestination(s.ServiceKey, d)
		case cmdDelDest:
			err = f.RemoveDestination(s.ServiceKey, d.DestKey)
		default:
			t.Errorf("unexpected command %d", greq.Header.Command)
			return nil, genltest.Error(int(unix.EINVAL))
		}
		switch {
		case err == nil:
			return nil, nil
		case errors.Is(err, errNoService):
			return nil, genltest.Error(int(unix.ESRCH))
		case errors.Is(err, errNoDest), errors.Is(err, ErrUnknownScheduler):
			return nil, genltest.Error(int(unix.ENOENT))
		case errors.Is(err, fs.ErrExist):
			return nil, genltest.Error(int(unix.EEXIST))
		}
		return nil, genltest.Error(int(unix.EINVAL))
	}
}

func parseService(b []byte) (Service, error) {
	var s Service
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return s, err
	}
	var ip, mask []byte
	for ad.Next() {
		switch ad.Type() {
		case svcAF:
			s.Family = ad.Uint16()
		case svcProtocol:
			s.Protocol = Protocol(ad.Uint16())
		case svcAddr:
			ip = ad.Bytes()
		case svcPort:
			s.Port = binary.BigEndian.Uint16(ad.Bytes())
		case svcFWMark:
			s.FWMark = ad.Uint32()
		case svcSchedName:
			s.Scheduler = ad.String()
		case svcFlags:
			s.Flags = Flags(binary.NativeEndian.Uint32(ad.Bytes()))
		case svcTimeout:
			s.Timeout = ad.Uint32()
		case svcNetmask:
			mask = ad.Bytes()
		}
	}
	if s.FWMark == 0 && len(ip) == 16 {
		if s.Family == FamilyIPv4 {
			s.Address = netip.AddrFrom4([4]byte(ip[:4]))
		} else {
			s.Address = netip.AddrFrom16([16]byte(ip))
		}
	}
	if len(mask) == 4 {
		if s.Family == FamilyIPv6 {
			s.Netmask = int(binary.NativeEndian.Uint32(mask))
		} else {
			s.Netmask = bits.LeadingZeros32(^binary.BigEndian.Uint32(mask))
		}
	}
	return s, ad.Err()
}

func parseDest(b []byte, family uint16) (Destination, error) {
	var d Destination
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return d, err
	}
	var ip []byte
	for ad.Next() {
		switch ad.Type() {
		case destAddrFamily:
			family = ad.Uint16()
		case destAddr:
			ip = ad.Bytes()
		case destPort:
			d.Port = binary.BigEndian.Uint16(ad.Bytes())
		case destFwdMethod:
			d.Forward = ForwardMethod(ad.Uint32())
		case destWeight:
			d.Weight = int(ad.Uint32())
		case destUThresh:
			d.UpperThreshold = ad.Uint32()
		case destLThresh:
			d.LowerThreshold = ad.Uint32()
		}
	}
	if len(ip) != 16 {
		return d, errors.New("no address")
	}
	if family == FamilyIPv4 {
		d.Address = netip.AddrFrom4([4]byte(ip[:4]))
	} else {
		d.Address = netip.AddrFrom16([16]byte(ip))
	}
	return d, ad.Err()
}

func TestReconcileOverNetlink(t *testing.T) {
	f := NewFake()
	c, ks := testClient(t, fakeKernel(t, f))
	hand := Service{ServiceKey: tcp("192.0.2.99", 22), Scheduler: "rr"}
	if err := c.CreateService(hand); err != nil {
		t.Fatal(err)
	}
	mine := func(k ServiceKey) bool { return k != hand.ServiceKey.Normalize() }
	applied, err := Reconcile(c, fixture(), mine)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Diff(nil, fixture(), nil), applied, addrs); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	want := normalized(append(fixture(), VirtualService{Service: hand}))
	if diff := cmp.Diff(want, f.Table(), addrs); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	table, _, _, err := Read(c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, table, addrs); diff != "" {
		t.Errorf("table read over netlink (-want +got):\n%s", diff)
	}
	ks.datagrams = nil
	if applied, err := Reconcile(c, fixture(), mine); err != nil || len(applied) != 0 {
		t.Errorf("second Reconcile applied %v, %v; want nothing", applied, err)
	}
	// Only reads: one service dump and one destination dump per service.
	if n := len(ks.datagrams); n != 1+len(want) {
		t.Errorf("second Reconcile sent %d requests, want %d", n, 1+len(want))
	}
}

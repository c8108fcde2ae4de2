package ipvs

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
)

// The kernel's side of the wire, written with mdlayher/netlink's encoder
// so the decoders are checked against an independent implementation.

func kernelStats(ae *netlink.AttributeEncoder, typ uint16, s Stats, wide bool) {
	ae.Nested(typ, func(ae *netlink.AttributeEncoder) error {
		u := func(t uint16, v uint64) {
			if wide {
				ae.Bytes(11, nil) // IPVS_STATS_ATTR_PAD, as nla_put_u64_64bit aligns
				ae.Uint64(t, v)
			} else {
				ae.Uint32(t, uint32(v))
			}
		}
		u(statsConns, s.Connections)
		u(statsInPkts, s.PacketsIn)
		u(statsOutPkts, s.PacketsOut)
		ae.Uint64(statsInBytes, s.BytesIn) // u64 in both forms
		ae.Uint64(statsOutBytes, s.BytesOut)
		u(statsCPS, s.CPS)
		u(statsInPPS, s.PPSIn)
		u(statsOutPPS, s.PPSOut)
		u(statsInBPS, s.BPSIn)
		u(statsOutBPS, s.BPSOut)
		return nil
	})
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func inet(a ServiceKey) []byte {
	var slot [16]byte
	if a.Address.Is4() {
		v := a.Address.As4()
		copy(slot[:], v[:])
	} else if a.Address.Is6() {
		slot = a.Address.As16()
	}
	return slot[:]
}

// kernelService encodes si as ip_vs_genl_fill_service does.
func kernelService(si ServiceInfo, flags uint32) []byte {
	ae := netlink.NewAttributeEncoder()
	ae.Uint16(svcAF, si.Family)
	if si.FWMark != 0 {
		ae.Uint32(svcFWMark, si.FWMark)
	} else {
		ae.Uint16(svcProtocol, uint16(si.Protocol))
		ae.Bytes(svcAddr, inet(si.ServiceKey))
		ae.Bytes(svcPort, be16(si.Port))
	}
	ae.String(svcSchedName, si.Scheduler)
	fl := binary.NativeEndian.AppendUint32(nil, flags)
	ae.Bytes(svcFlags, binary.NativeEndian.AppendUint32(fl, ^uint32(0)))
	ae.Uint32(svcTimeout, si.Timeout)
	if si.Family == FamilyIPv6 {
		ae.Uint32(svcNetmask, uint32(si.Netmask))
	} else {
		ae.Bytes(svcNetmask, binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-si.Netmask)))
	}
	kernelStats(ae, svcStats, si.Stats, false)
	kernelStats(ae, svcStats64, si.Stats, true)
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

// kernelDest encodes di as ip_vs_genl_fill_dest does.
func kernelDest(di DestinationInfo) []byte {
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(destAddr, inet(ServiceKey{Address: di.Address}))
	ae.Bytes(destPort, be16(di.Port))
	ae.Uint32(destFwdMethod, uint32(di.Forward))
	ae.Uint32(destWeight, uint32(di.Weight))
	ae.Uint8(13, 0) // IPVS_DEST_ATTR_TUN_TYPE, ignored
	ae.Uint32(destUThresh, di.UpperThreshold)
	ae.Uint32(destLThresh, di.LowerThreshold)
	ae.Uint32(destActiveConns, di.ActiveConns)
	ae.Uint32(destInactConns, di.InactiveConns)
	ae.Uint32(destPersistConns, di.PersistConns)
	ae.Uint16(destAddrFamily, familyOf(di.Address))
	kernelStats(ae, destStats, di.Stats, false)
	kernelStats(ae, destStats64, di.Stats, true)
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

var sampleStats = Stats{Connections: 1 << 33, PacketsIn: 2, PacketsOut: 3, BytesIn: 1 << 40, BytesOut: 5, CPS: 6, PPSIn: 7, PPSOut: 8, BPSIn: 9, BPSOut: 10}

func TestDecodeService(t *testing.T) {
	for _, want := range []ServiceInfo{
		{Service: Service{ServiceKey: tcp("192.0.2.10", 80).Normalize(), Scheduler: "rr", Netmask: 32}, Stats: sampleStats},
		{Service: Service{ServiceKey: ServiceKey{Family: FamilyIPv6, Protocol: ProtocolSCTP, Address: addr("2001:db8::10"), Port: 3868}, Scheduler: "sh",
			Flags: FlagPersistent | FlagSHPort, Timeout: 300, Netmask: 64}},
		{Service: Service{ServiceKey: ServiceKey{Family: FamilyIPv4, FWMark: 5}, Scheduler: "lblcr", Netmask: 24}},
		{Service: Service{ServiceKey: ServiceKey{Family: FamilyIPv6, FWMark: 6}, Scheduler: "my-own", Netmask: 128}},
	} {
		// The kernel always reports IP_VS_SVC_F_HASHED; it is dropped.
		got, err := decodeService(kernelService(want, uint32(want.Flags|FlagHashed)))
		if err != nil {
			t.Fatalf("%s: %v", want.ServiceKey, err)
		}
		if diff := cmp.Diff(want, got, addrs); diff != "" {
			t.Errorf("%s (-want +got):\n%s", want.ServiceKey, diff)
		}
	}
}

func TestDecodeStatsWithoutStats64(t *testing.T) {
	// A kernel before 4.6 sends IPVS_SVC_ATTR_STATS only: 32-bit counters.
	ae := netlink.NewAttributeEncoder()
	ae.Uint16(svcAF, FamilyIPv4)
	ae.Uint32(svcFWMark, 1)
	kernelStats(ae, svcStats, sampleStats, false)
	b, _ := ae.Encode()
	got, err := decodeService(b)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleStats
	want.Connections = uint64(uint32(want.Connections))
	if diff := cmp.Diff(want, got.Stats); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestDecodeDest(t *testing.T) {
	for _, want := range []DestinationInfo{
		{Destination: Destination{DestKey: DestKey{addr("198.51.100.1"), 8080}, Forward: ForwardNAT, Weight: 3, UpperThreshold: 100, LowerThreshold: 10},
			ActiveConns: 1, InactiveConns: 2, PersistConns: 3, Stats: sampleStats},
		{Destination: Destination{DestKey: DestKey{addr("2001:db8::1"), 0}, Forward: ForwardTunnel}},
	} {
		got, err := decodeDest(kernelDest(want), FamilyIPv4)
		if err != nil {
			t.Fatalf("%s: %v", want.DestKey, err)
		}
		if diff := cmp.Diff(want, got, addrs); diff != "" {
			t.Errorf("%s (-want +got):\n%s", want.DestKey, diff)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	attr := func(typ uint16, data []byte) []byte {
		b, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: typ, Data: data}})
		return b
	}
	cat := func(bs ...[]byte) (out []byte) {
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	af4 := attr(svcAF, binary.NativeEndian.AppendUint16(nil, FamilyIPv4))
	for name, b := range map[string][]byte{
		"no family":         attr(svcFWMark, []byte{1, 0, 0, 0}),
		"unknown family":    cat(attr(svcAF, []byte{7, 0}), attr(svcFWMark, []byte{1, 0, 0, 0})),
		"no key":            af4,
		"short address":     cat(af4, attr(svcProtocol, []byte{6, 0}), attr(svcPort, []byte{0, 80}), attr(svcAddr, []byte{192, 0})),
		"wide port":         cat(af4, attr(svcFWMark, []byte{1, 0, 0, 0}), attr(svcPort, []byte{0, 0, 0, 80})),
		"truncated":         cat(af4, []byte{8, 0, 5}),
		"length past end":   cat(af4, []byte{200, 0, 5, 0, 1, 0, 0, 0}),
		"bad stats counter": cat(af4, attr(svcFWMark, []byte{1, 0, 0, 0}), attr(svcStats, attr(statsConns, []byte{1, 2, 3}))),
	} {
		if si, err := decodeService(b); err == nil {
			t.Errorf("%s: decoded %+v", name, si)
		}
	}
	if di, err := decodeDest(attr(destPort, []byte{0, 80}), FamilyIPv4); err == nil {
		t.Errorf("destination without an address: decoded %+v", di)
	}
}

// The fuzzers check that no input panics a decoder and that whatever
// decodes survives a round trip through the encoder.

func FuzzDecodeService(f *testing.F) {
	for _, vs := range fixture() {
		si := ServiceInfo{Service: vs.Service.Normalize(), Stats: sampleStats}
		f.Add(kernelService(si, uint32(si.Flags)))
		var e enc
		e.service(si.Service)
		f.Add(e.b)
	}
	f.Add([]byte{})
	f.Add([]byte{4, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		si, err := decodeService(b)
		if err != nil {
			return
		}
		var e enc
		e.service(si.Service)
		again, err := decodeService(e.b)
		if err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", si.Service, err)
		}
		if diff := cmp.Diff(si.Service.Normalize(), again.Service.Normalize(), addrs); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeDestination(f *testing.F) {
	for _, vs := range fixture() {
		for _, d := range vs.Destinations {
			f.Add(kernelDest(DestinationInfo{Destination: d, ActiveConns: 1, Stats: sampleStats}), vs.Service.Normalize().Family)
			var e enc
			e.dest(d, true)
			f.Add(e.b, vs.Service.Normalize().Family)
		}
	}
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, family uint16) {
		di, err := decodeDest(b, family)
		if err != nil {
			return
		}
		var e enc
		e.dest(di.Destination, true)
		again, err := decodeDest(e.b, family)
		if err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", di.Destination, err)
		}
		want := di.Destination
		if want.Weight < 0 {
			want.Weight = int(int32(want.Weight))
		}
		if diff := cmp.Diff(want, again.Destination, addrs); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeStats(f *testing.F) {
	for _, wide := range []bool{false, true} {
		ae := netlink.NewAttributeEncoder()
		kernelStats(ae, 1, sampleStats, wide)
		b, _ := ae.Encode()
		nested, _ := findAttr(b, 1)
		f.Add(nested)
	}
	f.Add([]byte{4, 0, 11, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeStats(b)
		if err != nil && s != (Stats{}) {
			t.Errorf("error %v with stats %+v", err, s)
		}
	})
}

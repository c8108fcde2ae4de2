package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
)

// The IPVS generic netlink family, from include/uapi/linux/ip_vs.h.
const (
	familyName  = "IPVS"
	genlVersion = 1 // IPVS_GENL_VERSION

	cmdNewService = 1 // IPVS_CMD_NEW_SERVICE
	cmdSetService = 2
	cmdDelService = 3
	cmdGetService = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdFlush      = 17

	attrCmdService = 1 // IPVS_CMD_ATTR_SERVICE, nested
	attrCmdDest    = 2 // IPVS_CMD_ATTR_DEST, nested

	svcAF        = 1  // u16
	svcProtocol  = 2  // u16
	svcAddr      = 3  // union nf_inet_addr (16 bytes; IPv4 in the first 4)
	svcPort      = 4  // be16
	svcFWMark    = 5  // u32
	svcSchedName = 6  // NUL-terminated string
	svcFlags     = 7  // struct ip_vs_flags { u32 flags; u32 mask; }
	svcTimeout   = 8  // u32 seconds
	svcNetmask   = 9  // IPv4: the mask, network order; IPv6: prefix length, u32
	svcStats     = 10 // nested, u32 and u64
	svcStats64   = 12 // nested, u64 (11, IPVS_SVC_ATTR_PE_NAME, is not modelled)

	destAddr         = 1  // union nf_inet_addr
	destPort         = 2  // be16
	destFwdMethod    = 3  // u32
	destWeight       = 4  // u32
	destUThresh      = 5  // u32
	destLThresh      = 6  // u32
	destActiveConns  = 7  // u32
	destInactConns   = 8  // u32
	destPersistConns = 9  // u32
	destStats        = 10 // nested
	destAddrFamily   = 11 // u16
	destStats64      = 12 // nested

	statsConns    = 1
	statsInPkts   = 2
	statsOutPkts  = 3
	statsInBytes  = 4
	statsOutBytes = 5
	statsCPS      = 6
	statsInPPS    = 7
	statsOutPPS   = 8
	statsInBPS    = 9
	statsOutBPS   = 10

	fwdMask = 0x7 // IP_VS_CONN_F_FWD_MASK

	nlaHeaderLen = 4
	nlaFNested   = 0x8000 // NLA_F_NESTED
	nlaTypeMask  = 0x3fff // less NLA_F_NESTED and NLA_F_NET_BYTEORDER
	genlHdrLen   = 4      // struct genlmsghdr
)

// Netlink integers are in the host's byte order, ports in network order.
var native = binary.NativeEndian

// enc appends netlink attributes (RFC 3549 §2.3.2: length, type, value
// padded to 4 bytes) to a buffer that is reused between requests.
type enc struct{ b []byte }

func (e *enc) put(typ uint16, data []byte) {
	e.b = native.AppendUint16(e.b, uint16(nlaHeaderLen+len(data)))
	e.b = native.AppendUint16(e.b, typ)
	e.b = append(e.b, data...)
	e.pad()
}

func (e *enc) pad() {
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *enc) u16(typ, v uint16) {
	var a [2]byte
	native.PutUint16(a[:], v)
	e.put(typ, a[:])
}

func (e *enc) be16(typ, v uint16) {
	var a [2]byte
	binary.BigEndian.PutUint16(a[:], v)
	e.put(typ, a[:])
}

func (e *enc) u32(typ uint16, v uint32) {
	var a [4]byte
	native.PutUint32(a[:], v)
	e.put(typ, a[:])
}

// addr writes a as the kernel's 16-byte union nf_inet_addr.
func (e *enc) addr(typ uint16, a netip.Addr) {
	var slot [16]byte
	if a.Is4() {
		v4 := a.As4()
		copy(slot[:], v4[:])
	} else if a.Is6() {
		slot = a.As16()
	}
	e.put(typ, slot[:])
}

func (e *enc) str(typ uint16, s string) {
	e.b = native.AppendUint16(e.b, uint16(nlaHeaderLen+len(s)+1))
	e.b = native.AppendUint16(e.b, typ)
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
	e.pad()
}

// nest starts a nested attribute; end closes it.
func (e *enc) nest(typ uint16) int {
	at := len(e.b)
	e.b = native.AppendUint16(e.b, 0)
	e.b = native.AppendUint16(e.b, typ|nlaFNested)
	return at
}

func (e *enc) end(at int) { native.PutUint16(e.b[at:], uint16(len(e.b)-at)) }

// serviceKey writes the attributes that identify k (normalised).
func (e *enc) serviceKey(k ServiceKey) {
	e.u16(svcAF, k.Family)
	if k.FWMark != 0 {
		e.u32(svcFWMark, k.FWMark)
		return
	}
	e.u16(svcProtocol, uint16(k.Protocol))
	e.addr(svcAddr, k.Address)
	e.be16(svcPort, k.Port)
}

// service writes the full entry NEW and SET_SERVICE need (s normalised).
func (e *enc) service(s Service) {
	e.serviceKey(s.ServiceKey)
	e.str(svcSchedName, s.Scheduler)
	var fl [8]byte
	native.PutUint32(fl[:], uint32(s.Flags&^FlagHashed))
	native.PutUint32(fl[4:], ^uint32(0)) // mask: set every flag as given
	e.put(svcFlags, fl[:])
	e.u32(svcTimeout, s.Timeout)
	n := s.Netmask
	if n <= 0 || n > hostBits(s.Family) {
		n = hostBits(s.Family)
	}
	if s.Family == FamilyIPv6 {
		e.u32(svcNetmask, uint32(n))
	} else {
		m := ^uint32(0) << (32 - n)
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], m)
		e.put(svcNetmask, a[:])
	}
}

// dest writes destination d (normalised); full adds what NEW and SET_DEST
// need beyond the key.
func (e *enc) dest(d Destination, full bool) {
	e.u16(destAddrFamily, familyOf(d.Address))
	e.addr(destAddr, d.Address)
	e.be16(destPort, d.Port)
	if !full {
		return
	}
	e.u32(destFwdMethod, uint32(d.Forward)&fwdMask)
	e.u32(destWeight, uint32(int32(d.Weight)))
	e.u32(destUThresh, d.UpperThreshold)
	e.u32(destLThresh, d.LowerThreshold)
}

// request appends the generic netlink payload of op (header and
// attributes) to e and returns its command.
func (e *enc) request(op Op) uint8 {
	var cmd uint8
	switch op.Kind {
	case OpCreateService:
		cmd = cmdNewService
	case OpUpdateService:
		cmd = cmdSetService
	case OpRemoveService:
		cmd = cmdDelService
	case OpCreateDestination:
		cmd = cmdNewDest
	case OpUpdateDestination:
		cmd = cmdSetDest
	case OpRemoveDestination:
		cmd = cmdDelDest
	}
	e.b = append(e.b, cmd, genlVersion, 0, 0)
	svc := e.nest(attrCmdService)
	switch op.Kind {
	case OpCreateService, OpUpdateService:
		e.service(op.Service.Normalize())
	default:
		e.serviceKey(op.Service.ServiceKey.Normalize())
	}
	e.end(svc)
	switch op.Kind {
	case OpCreateDestination, OpUpdateDestination, OpRemoveDestination:
		d := e.nest(attrCmdDest)
		e.dest(op.Dest.Normalize(), op.Kind != OpRemoveDestination)
		e.end(d)
	}
	return cmd
}

var (
	errShortAttr = errors.New("truncated netlink attribute")
	errAttrLen   = errors.New("netlink attribute length out of bounds")
)

// attrs iterates over the netlink attributes of b without copying them.
type attrs struct {
	b    []byte
	typ  uint16
	data []byte
	err  error
}

func (a *attrs) next() bool {
	if a.err != nil || len(a.b) == 0 {
		return false
	}
	if len(a.b) < nlaHeaderLen {
		a.err = errShortAttr
		return false
	}
	n := int(native.Uint16(a.b))
	if n < nlaHeaderLen || n > len(a.b) {
		a.err = errAttrLen
		return false
	}
	a.typ = native.Uint16(a.b[2:]) & nlaTypeMask
	a.data = a.b[nlaHeaderLen:n]
	a.b = a.b[min((n+3)&^3, len(a.b)):]
	return true
}

func (a *attrs) fail(what string) {
	if a.err == nil {
		a.err = fmt.Errorf("attribute %s (%d): bad length %d", what, a.typ, len(a.data))
	}
}

func (a *attrs) u16(what string) uint16 {
	if len(a.data) != 2 {
		a.fail(what)
		return 0
	}
	return native.Uint16(a.data)
}

func (a *attrs) be16(what string) uint16 {
	if len(a.data) != 2 {
		a.fail(what)
		return 0
	}
	return binary.BigEndian.Uint16(a.data)
}

func (a *attrs) u32(what string) uint32 {
	if len(a.data) != 4 {
		a.fail(what)
		return 0
	}
	return native.Uint32(a.data)
}

// uint reads a counter sent as u32 (IPVS_*_ATTR_STATS) or u64 (STATS64).
func (a *attrs) uint(what string) uint64 {
	switch len(a.data) {
	case 4:
		return uint64(native.Uint32(a.data))
	case 8:
		return native.Uint64(a.data)
	}
	a.fail(what)
	return 0
}

// str reads a NUL-terminated string, sparing an allocation for the
// kernel's schedulers.
func (a *attrs) str() string {
	b := a.data
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	for _, s := range schedulers {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}

// schedulers are the kernel's scheduler modules (ip_vs_*.ko).
var schedulers = [...]string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos", "none"}

// inetAddr reads a union nf_inet_addr (or a bare 4- or 16-byte address)
// of the given family.
func inetAddr(b []byte, family uint16) (netip.Addr, bool) {
	switch {
	case family == FamilyIPv4 && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), true
	case family == FamilyIPv6 && len(b) == 16:
		return netip.AddrFrom16([16]byte(b)), true
	}
	return netip.Addr{}, false
}

// decodeService reads the attributes nested in IPVS_CMD_ATTR_SERVICE.
// The key comes back normalised and FlagHashed is dropped.
func decodeService(b []byte) (ServiceInfo, error) {
	var (
		si                          ServiceInfo
		addr, netmask               []byte
		haveAF, haveProto, havePort bool
		stats, stats64              []byte
	)
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case svcAF:
			si.Family, haveAF = a.u16("af"), true
		case svcProtocol:
			si.Protocol, haveProto = Protocol(a.u16("protocol")), true
		case svcAddr:
			addr = a.data
		case svcPort:
			si.Port, havePort = a.be16("port"), true
		case svcFWMark:
			si.FWMark = a.u32("fwmark")
		case svcSchedName:
			si.Scheduler = a.str()
		case svcFlags:
			if len(a.data) < 4 {
				a.fail("flags")
				break
			}
			si.Flags = Flags(native.Uint32(a.data)) &^ FlagHashed
		case svcTimeout:
			si.Timeout = a.u32("timeout")
		case svcNetmask:
			if len(a.data) != 4 {
				a.fail("netmask")
			}
			netmask = a.data
		case svcStats:
			stats = a.data
		case svcStats64:
			stats64 = a.data
		}
	}
	if a.err != nil {
		return ServiceInfo{}, fmt.Errorf("decoding service: %w", a.err)
	}
	if !haveAF || (si.Family != FamilyIPv4 && si.Family != FamilyIPv6) {
		return ServiceInfo{}, fmt.Errorf("decoding service: no or unknown address family %d", si.Family)
	}
	if si.FWMark == 0 {
		if !haveProto || !havePort || addr == nil {
			return ServiceInfo{}, errors.New("decoding service: neither a fwmark nor protocol, address and port")
		}
		var ok bool
		if si.Address, ok = inetAddr(addr, si.Family); !ok {
			return ServiceInfo{}, fmt.Errorf("decoding service: address of %d bytes for family %d", len(addr), si.Family)
		}
	}
	si.ServiceKey = si.ServiceKey.Normalize()
	if netmask != nil {
		if si.Family == FamilyIPv6 {
			si.Netmask = int(min(native.Uint32(netmask), 128))
		} else {
			// A mask that is not a prefix (ipvsadm accepts one) reads as
			// its leading ones.
			si.Netmask = bits.LeadingZeros32(^binary.BigEndian.Uint32(netmask))
		}
	}
	var err error
	if stats64 != nil {
		si.Stats, err = decodeStats(stats64)
	} else if stats != nil {
		si.Stats, err = decodeStats(stats)
	}
	if err != nil {
		return ServiceInfo{}, fmt.Errorf("decoding service %s: %w", si.ServiceKey, err)
	}
	return si, nil
}

// decodeDest reads the attributes nested in IPVS_CMD_ATTR_DEST of a
// service of the given family (a kernel before 3.18 sends no
// IPVS_DEST_ATTR_ADDR_FAMILY: the destination's is then the service's).
func decodeDest(b []byte, family uint16) (DestinationInfo, error) {
	var (
		di                 DestinationInfo
		addr               []byte
		haveAddr, havePort bool
		stats, stats64     []byte
	)
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case destAddr:
			addr, haveAddr = a.data, true
		case destPort:
			di.Port, havePort = a.be16("port"), true
		case destFwdMethod:
			di.Forward = ForwardMethod(a.u32("forward method") & fwdMask)
		case destWeight:
			di.Weight = int(int32(a.u32("weight")))
		case destUThresh:
			di.UpperThreshold = a.u32("upper threshold")
		case destLThresh:
			di.LowerThreshold = a.u32("lower threshold")
		case destActiveConns:
			di.ActiveConns = a.u32("active connections")
		case destInactConns:
			di.InactiveConns = a.u32("inactive connections")
		case destPersistConns:
			di.PersistConns = a.u32("persistent connections")
		case destAddrFamily:
			family = a.u16("address family")
		case destStats:
			stats = a.data
		case destStats64:
			stats64 = a.data
		}
	}
	if a.err != nil {
		return DestinationInfo{}, fmt.Errorf("decoding destination: %w", a.err)
	}
	if !haveAddr || !havePort {
		return DestinationInfo{}, errors.New("decoding destination: no address or port")
	}
	var ok bool
	if di.Address, ok = inetAddr(addr, family); !ok {
		return DestinationInfo{}, fmt.Errorf("decoding destination: address of %d bytes for family %d", len(addr), family)
	}
	var err error
	if stats64 != nil {
		di.Stats, err = decodeStats(stats64)
	} else if stats != nil {
		di.Stats, err = decodeStats(stats)
	}
	if err != nil {
		return DestinationInfo{}, fmt.Errorf("decoding destination %s: %w", di.DestKey, err)
	}
	return di, nil
}

// decodeStats reads the attributes nested in IPVS_SVC_ATTR_STATS(64) or
// IPVS_DEST_ATTR_STATS(64): u32 or u64 counters, and padding.
func decodeStats(b []byte) (Stats, error) {
	var s Stats
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case statsConns:
			s.Connections = a.uint("conns")
		case statsInPkts:
			s.PacketsIn = a.uint("inpkts")
		case statsOutPkts:
			s.PacketsOut = a.uint("outpkts")
		case statsInBytes:
			s.BytesIn = a.uint("inbytes")
		case statsOutBytes:
			s.BytesOut = a.uint("outbytes")
		case statsCPS:
			s.CPS = a.uint("cps")
		case statsInPPS:
			s.PPSIn = a.uint("inpps")
		case statsOutPPS:
			s.PPSOut = a.uint("outpps")
		case statsInBPS:
			s.BPSIn = a.uint("inbps")
		case statsOutBPS:
			s.BPSOut = a.uint("outbps")
		}
	}
	if a.err != nil {
		return Stats{}, fmt.Errorf("decoding stats: %w", a.err)
	}
	return s, nil
}

// findAttr returns the data of the first attribute of type typ in b (the
// attributes of a generic netlink message).
func findAttr(b []byte, typ uint16) ([]byte, error) {
	a := attrs{b: b}
	for a.next() {
		if a.typ == typ {
			return a.data, nil
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	return nil, fmt.Errorf("no attribute %d", typ)
}

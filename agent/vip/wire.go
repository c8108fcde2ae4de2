package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// EtherType values.
const (
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
)

// ARP operations (RFC 826).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

var (
	broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zeroMAC      = net.HardwareAddr{0, 0, 0, 0, 0, 0}
)

// ARP is an Ethernet/IPv4 ARP packet (RFC 826).
type ARP struct {
	Op        uint16
	SenderMAC net.HardwareAddr
	SenderIP  netip.Addr
	TargetMAC net.HardwareAddr
	TargetIP  netip.Addr
}

// ErrShortFrame and ErrNotARP are returned by ParseARPFrame.
var (
	ErrShortFrame = errors.New("frame too short")
	ErrNotARP     = errors.New("not an Ethernet/IPv4 ARP frame")
)

// GratuitousARP is the announcement of ip at mac: sender and target
// address are both ip (RFC 5227 §3). The request form leaves the target
// hardware address zero; the reply form sets it to broadcast.
func GratuitousARP(op uint16, mac net.HardwareAddr, ip netip.Addr) ARP {
	t := zeroMAC
	if op == ARPReply {
		t = broadcastMAC
	}
	return ARP{Op: op, SenderMAC: mac, SenderIP: ip, TargetMAC: t, TargetIP: ip}
}

// Frame renders a as an Ethernet frame from a.SenderMAC to dst.
func (a ARP) Frame(dst net.HardwareAddr) ([]byte, error) {
	if len(a.SenderMAC) != 6 || len(a.TargetMAC) != 6 || len(dst) != 6 {
		return nil, fmt.Errorf("arp: hardware addresses must be 6 bytes")
	}
	if !a.SenderIP.Is4() || !a.TargetIP.Is4() {
		return nil, fmt.Errorf("arp: protocol addresses must be IPv4")
	}
	b := make([]byte, 14+28)
	copy(b[0:6], dst)
	copy(b[6:12], a.SenderMAC)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	p := b[14:]
	binary.BigEndian.PutUint16(p[0:2], 1) // Ethernet
	binary.BigEndian.PutUint16(p[2:4], etherTypeIPv4)
	p[4], p[5] = 6, 4
	binary.BigEndian.PutUint16(p[6:8], a.Op)
	copy(p[8:14], a.SenderMAC)
	s4 := a.SenderIP.As4()
	copy(p[14:18], s4[:])
	copy(p[18:24], a.TargetMAC)
	t4 := a.TargetIP.As4()
	copy(p[24:28], t4[:])
	return b, nil
}

// ParseARPFrame decodes an Ethernet frame carrying an Ethernet/IPv4 ARP
// packet. It returns the frame's source MAC with the packet.
func ParseARPFrame(b []byte) (net.HardwareAddr, ARP, error) {
	if len(b) < 14+28 {
		return nil, ARP{}, ErrShortFrame
	}
	if binary.BigEndian.Uint16(b[12:14]) != etherTypeARP {
		return nil, ARP{}, ErrNotARP
	}
	p := b[14:]
	if binary.BigEndian.Uint16(p[0:2]) != 1 || binary.BigEndian.Uint16(p[2:4]) != etherTypeIPv4 || p[4] != 6 || p[5] != 4 {
		return nil, ARP{}, ErrNotARP
	}
	a := ARP{
		Op:        binary.BigEndian.Uint16(p[6:8]),
		SenderMAC: append(net.HardwareAddr(nil), p[8:14]...),
		SenderIP:  netip.AddrFrom4([4]byte(p[14:18])),
		TargetMAC: append(net.HardwareAddr(nil), p[18:24]...),
		TargetIP:  netip.AddrFrom4([4]byte(p[24:28])),
	}
	return append(net.HardwareAddr(nil), b[6:12]...), a, nil
}

// UnsolicitedNA renders an unsolicited neighbour advertisement for ip at
// mac (RFC 4861 §7.2.6): to all nodes (ff02::1), override flag set,
// solicited flag clear, with a target link-layer address option, hop limit
// 255, from ip itself.
func UnsolicitedNA(mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	if len(mac) != 6 || !ip.Is6() || ip.Is4In6() {
		return nil, fmt.Errorf("ndp: need a 6-byte MAC and an IPv6 address")
	}
	const icmpLen = 4 + 4 + 16 + 8 // header, flags, target, TLLA option
	b := make([]byte, 14+40+icmpLen)
	copy(b[0:6], []byte{0x33, 0x33, 0, 0, 0, 1}) // ff02::1 multicast MAC
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], etherTypeIPv6)
	ip6 := b[14:54]
	ip6[0] = 0x60
	binary.BigEndian.PutUint16(ip6[4:6], icmpLen)
	ip6[6] = 58 // ICMPv6
	ip6[7] = 255
	src := ip.As16()
	copy(ip6[8:24], src[:])
	dst := netip.MustParseAddr("ff02::1").As16()
	copy(ip6[24:40], dst[:])
	icmp := b[54:]
	icmp[0] = 136             // neighbour advertisement
	icmp[4] = 0x20            // override
	copy(icmp[8:24], src[:])  // target
	icmp[24], icmp[25] = 2, 1 // target link-layer address, 8 bytes
	copy(icmp[26:32], mac)
	binary.BigEndian.PutUint16(icmp[2:4], icmpv6Checksum(src, dst, icmp))
	return b, nil
}

func icmpv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:4], uint32(len(msg)))
	l[7] = 58
	add(l[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ParseNA decodes an Ethernet frame carrying an ICMPv6 neighbour
// advertisement and returns its target address and target link-layer
// address option (nil if absent).
func ParseNA(b []byte) (netip.Addr, net.HardwareAddr, error) {
	if len(b) < 14+40+24 {
		return netip.Addr{}, nil, ErrShortFrame
	}
	if binary.BigEndian.Uint16(b[12:14]) != etherTypeIPv6 || b[14+6] != 58 {
		return netip.Addr{}, nil, errors.New("not an ICMPv6 frame")
	}
	icmp := b[54:]
	if plen := int(binary.BigEndian.Uint16(b[18:20])); plen < len(icmp) {
		icmp = icmp[:plen]
	}
	if len(icmp) < 24 || icmp[0] != 136 {
		return netip.Addr{}, nil, errors.New("not a neighbour advertisement")
	}
	target := netip.AddrFrom16([16]byte(icmp[8:24]))
	opts := icmp[24:]
	for len(opts) >= 8 {
		l := int(opts[1]) * 8
		if l == 0 || l > len(opts) {
			break
		}
		if opts[0] == 2 && l >= 8 {
			return target, append(net.HardwareAddr(nil), opts[2:8]...), nil
		}
		opts = opts[l:]
	}
	return target, nil, nil
}

package ipvs

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Save renders t as ipvsadm -Sn (ipvsadm-save -n) does, byte for byte:
// services and destinations sorted as ipvsadm sorts them, one rule a line.
// Like ipvsadm it leaves out connection thresholds, which -S never shows.
func (t Table) Save() string {
	t = slices.Clone(t)
	for i := range t {
		t[i].Destinations = slices.Clone(t[i].Destinations)
	}
	sortTable(t)
	var b strings.Builder
	for _, vs := range t {
		s := vs.Service.Normalize()
		b.WriteString("-A ")
		writeServiceRule(&b, s)
		b.WriteByte('\n')
		for _, d := range vs.Destinations {
			b.WriteString("-a ")
			writeDestRule(&b, s.ServiceKey, d.Normalize(), false)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// sortTable sorts t in place as ipvsadm lists a table: services by fwmark,
// family, protocol, address and port (addressed services before marked
// ones), destinations by address and port. ipvsadm compares addresses by
// subtracting them as 32-bit integers, which wraps for addresses more than
// 2^31 apart; this order is the numeric one it means.
func sortTable(t Table) {
	slices.SortFunc(t, func(a, b VirtualService) int { return compareKeys(a.ServiceKey.Normalize(), b.ServiceKey.Normalize()) })
	for i := range t {
		sortDests(t[i].Destinations)
	}
}

func sortDests(ds []Destination) {
	slices.SortFunc(ds, func(a, b Destination) int {
		return cmp.Or(a.Address.Unmap().Compare(b.Address.Unmap()), cmp.Compare(a.Port, b.Port))
	})
}

func compareKeys(a, b ServiceKey) int {
	return cmp.Or(
		cmp.Compare(a.FWMark, b.FWMark),
		cmp.Compare(a.Family, b.Family),
		cmp.Compare(a.Protocol, b.Protocol),
		a.Address.Compare(b.Address),
		cmp.Compare(a.Port, b.Port),
	)
}

// writeServiceArg writes the ipvsadm switch naming service k (normalised).
func writeServiceArg(b *strings.Builder, k ServiceKey) {
	if k.FWMark != 0 {
		b.WriteString("-f ")
		b.WriteString(strconv.FormatUint(uint64(k.FWMark), 10))
		if k.Family == FamilyIPv6 {
			b.WriteString(" -6")
		}
		return
	}
	switch k.Protocol {
	case ProtocolTCP:
		b.WriteString("-t ")
	case ProtocolUDP:
		b.WriteString("-u ")
	case ProtocolSCTP:
		b.WriteString("--sctp-service ")
	default:
		b.WriteString("--xxx-service ")
	}
	b.WriteString(netip.AddrPortFrom(k.Address, k.Port).String())
}

// writeServiceRule writes service s (normalised) with its options in
// ipvsadm's order: -s, -p and -M, -o, -b.
func writeServiceRule(b *strings.Builder, s Service) {
	writeServiceArg(b, s.ServiceKey)
	b.WriteString(" -s ")
	b.WriteString(s.Scheduler)
	if s.Flags&FlagPersistent != 0 {
		b.WriteString(" -p ")
		b.WriteString(strconv.FormatUint(uint64(s.Timeout), 10))
		if s.Netmask != hostBits(s.Family) {
			b.WriteString(" -M ")
			if s.Family == FamilyIPv6 {
				b.WriteString(strconv.Itoa(s.Netmask))
			} else {
				b.WriteString(maskString(s.Netmask))
			}
		}
	}
	if s.Flags&FlagOnePacket != 0 {
		b.WriteString(" -o")
	}
	if s.Flags&schedFlags != 0 {
		b.WriteString(" -b ")
		b.WriteString(strings.Join(schedFlagNames(s.Scheduler, s.Flags), ","))
	}
}

// maskString is an IPv4 prefix length as a dotted mask.
func maskString(bits int) string {
	var m uint32
	if bits > 0 {
		m = ^uint32(0) << (32 - min(bits, 32))
	}
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

// schedFlagNames names scheduler flags as ipvsadm's -b option does.
func schedFlagNames(sched string, f Flags) []string {
	var names []string
	switch sched {
	case "sh", "mh":
		if f&FlagSched1 != 0 {
			names = append(names, sched+"-fallback")
		}
		if f&FlagSched2 != 0 {
			names = append(names, sched+"-port")
		}
	default:
		for i, fl := range []Flags{FlagSched1, FlagSched2, FlagSched3} {
			if f&fl != 0 {
				names = append(names, "flag-"+strconv.Itoa(i+1))
			}
		}
	}
	return names
}

// writeDestRule writes destination d of service k, in the form of a
// command (withThresholds: -x and -y when set) or of ipvsadm -S (a
// tunnel's type, never thresholds).
func writeDestRule(b *strings.Builder, k ServiceKey, d Destination, withThresholds bool) {
	writeServiceArg(b, k)
	b.WriteString(" -r ")
	b.WriteString(d.DestKey.String())
	switch d.Forward {
	case ForwardNAT:
		b.WriteString(" -m")
	case ForwardTunnel:
		b.WriteString(" -i")
	case ForwardDR, ForwardLocal:
		b.WriteString(" -g")
	default:
		b.WriteString(" (null)")
	}
	b.WriteString(" -w ")
	b.WriteString(strconv.Itoa(d.Weight))
	if withThresholds {
		if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
			b.WriteString(" -x ")
			b.WriteString(strconv.FormatUint(uint64(d.UpperThreshold), 10))
			b.WriteString(" -y ")
			b.WriteString(strconv.FormatUint(uint64(d.LowerThreshold), 10))
		}
	} else if d.Forward == ForwardTunnel {
		b.WriteString(" --tun-type ipip")
	}
}

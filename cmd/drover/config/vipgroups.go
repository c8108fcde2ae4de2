package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/droverha/drover/model"
)

// toVIPGroups reads the file's list of VIP groups; walk has checked the
// items' keys. A key left out, or given no value, takes its default.
func toVIPGroups(raw any, bad report) []VIPGroup {
	items, ok := raw.([]any)
	if !ok {
		if raw != nil {
			bad("", "expected a list of VIP groups, got "+describe(raw))
		}
		return nil
	}
	out := make([]VIPGroup, len(items))
	for i, item := range items {
		at := bad.under(fmt.Sprintf("[%d]", i))
		m, ok := item.(map[string]any)
		if !ok {
			at("", "expected a mapping with name, interface, addresses and candidates, got "+describe(item))
			continue
		}
		out[i] = toVIPGroup(m, at)
	}
	return out
}

func toVIPGroup(m map[string]any, bad report) VIPGroup {
	g := VIPGroup{
		Name:         toString(m["name"], bad.under(".name")),
		Interface:    toString(m["interface"], bad.under(".interface")),
		Addresses:    toPrefixes(m["addresses"], bad.under(".addresses")),
		Candidates:   toCandidates(m["candidates"], bad.under(".candidates")),
		Preempt:      true,
		PreemptDelay: toDuration(m["preempt_delay"], bad.under(".preempt_delay")),
		VirtualMACID: toInt(m["virtual_mac_id"], false, bad.under(".virtual_mac_id")),
		GARP: GARP{
			Count:       defaultGARPCount,
			Interval:    defaultGARPInterval,
			RepeatAfter: defaultGARPRepeat,
			Mode:        defaultGARPMode,
		},
	}
	if v := m["preempt"]; v != nil {
		g.Preempt = toBool(v, false, bad.under(".preempt"))
	}
	switch garp := m["garp"].(type) {
	case nil:
	case map[string]any:
		bad := bad.under(".garp")
		if v := garp["count"]; v != nil {
			g.GARP.Count = toInt(v, false, bad.under(".count"))
		}
		if v := garp["interval"]; v != nil {
			g.GARP.Interval = toDuration(v, bad.under(".interval"))
		}
		if v := garp["repeat_after"]; v != nil {
			g.GARP.RepeatAfter = toDuration(v, bad.under(".repeat_after"))
		}
		g.GARP.Refresh = toDuration(garp["refresh"], bad.under(".refresh"))
		if v := garp["mode"]; v != nil {
			g.GARP.Mode = toString(v, bad.under(".mode"))
		}
	default:
		bad(".garp", "expected a mapping, got "+describe(garp))
	}
	return g
}

// toPrefixes reads a list of VIPs. A list given as [] stays non-nil, so
// that validation can tell an empty list from a missing one.
func toPrefixes(raw any, bad report) []netip.Prefix {
	items, ok := raw.([]any)
	if !ok {
		if raw != nil {
			bad("", "expected a list of addresses such as 192.0.2.100/24, got "+describe(raw))
		}
		return nil
	}
	out := make([]netip.Prefix, len(items))
	for i, item := range items {
		at := bad.under(fmt.Sprintf("[%d]", i))
		s, ok := item.(string)
		if !ok {
			at("", "expected an address such as 192.0.2.100/24, got "+describe(item))
			continue
		}
		p, reason := parseVIP(s)
		if reason != "" {
			at("", reason)
		}
		out[i] = p
	}
	return out
}

// parseVIP reads an address with the length of the prefix it is added
// with, and checks that a host can own it.
func parseVIP(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		switch a, aerr := netip.ParseAddr(strings.TrimSpace(s)); {
		case strings.Contains(s, "%"):
			return netip.Prefix{}, fmt.Sprintf("%q: leave out the zone; the group's interface is the zone", s)
		case aerr == nil && a.Is4():
			return netip.Prefix{}, fmt.Sprintf("%q needs the length of its prefix, e.g. %s/24", s, a)
		case aerr == nil:
			return netip.Prefix{}, fmt.Sprintf("%q needs the length of its prefix, e.g. %s/64", s, a)
		}
		return netip.Prefix{}, fmt.Sprintf("%q is not an IP address with a prefix length (e.g. 192.0.2.100/24, 2001:db8::100/64)", s)
	}
	a := p.Addr()
	switch {
	case a.Is4In6():
		return netip.Prefix{}, fmt.Sprintf("%q: write an IPv4 address as IPv4, e.g. %s/%d", s, a.Unmap(), p.Bits()-96)
	case a.IsUnspecified():
		return netip.Prefix{}, fmt.Sprintf("%q: a VIP cannot be the unspecified address", s)
	case a.IsLoopback():
		return netip.Prefix{}, fmt.Sprintf("%q: a VIP cannot be a loopback address", s)
	case a.IsMulticast():
		return netip.Prefix{}, fmt.Sprintf("%q: a VIP cannot be a multicast address", s)
	}
	// A /31 (RFC 3021) or /127 (RFC 6164) link has no network or
	// broadcast address; a /32 or /128 is one address.
	if a.BitLen()-p.Bits() >= 2 {
		if a == p.Masked().Addr() {
			return netip.Prefix{}, fmt.Sprintf("%q: %s is the network address of its prefix", s, a)
		}
		if a.Is4() && a == lastAddr(p) {
			return netip.Prefix{}, fmt.Sprintf("%q: %s is the broadcast address of its prefix", s, a)
		}
	}
	return p, ""
}

// lastAddr is the highest address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

func toCandidates(raw any, bad report) []Candidate {
	items, ok := raw.([]any)
	if !ok {
		if raw != nil {
			bad("", "expected a list of candidates (node and priority), got "+describe(raw))
		}
		return nil
	}
	out := make([]Candidate, len(items))
	for i, item := range items {
		at := bad.under(fmt.Sprintf("[%d]", i))
		m, ok := item.(map[string]any)
		if !ok {
			at("", "expected a mapping with node and priority, got "+describe(item))
			continue
		}
		out[i] = Candidate{Node: toString(m["node"], at.under(".node")), Priority: defaultPriority}
		if v := m["priority"]; v != nil {
			out[i].Priority = toInt(v, false, at.under(".priority"))
		}
	}
	return out
}

// validateVIPGroups checks each group, then the groups against each other
// and against this host. nodes holds the names of bus.cluster.peers, or is
// nil when the set of nodes is not known.
func (l *loader) validateVIPGroups(c *Config, nodes map[string]int) {
	const key = "vip_groups"
	if l.bad[key] {
		return
	}
	names := map[string]int{}
	holders := map[netip.Addr]int{} // which group has an address first
	macs := map[int]int{}           // which group has a virtual MAC first
	for i := range c.VIPGroups {
		g, at := &c.VIPGroups[i], fmt.Sprintf("%s[%d]", key, i)
		if l.bad[at] {
			continue
		}
		switch {
		case l.bad[at+".name"]:
		case g.Name == "":
			l.add(at+".name", "missing")
		case !model.ValidName(g.Name):
			l.add(at+".name", fmt.Sprintf("%q is not a valid name: %s", g.Name, nameRule))
		default:
			if j, dup := names[g.Name]; dup {
				l.add(at+".name", fmt.Sprintf("%q is already the name of %s[%d]", g.Name, key, j))
			} else {
				names[g.Name] = i
			}
		}
		switch {
		case l.bad[at+".interface"]:
		case g.Interface == "":
			l.add(at+".interface", "missing")
		case !validIfname(g.Interface):
			l.add(at+".interface", fmt.Sprintf("%q is not an interface name: use 1 to 15 characters other than '/', ':' and white space", g.Interface))
		}
		l.validateAddresses(c, i, holders)
		l.validateCandidates(at, g.Candidates, nodes)
		l.checkRange(at+".preempt_delay", g.PreemptDelay, 0, time.Hour)
		if !g.Preempt && g.PreemptDelay != 0 && !l.bad[at+".preempt"] && !l.bad[at+".preempt_delay"] {
			l.add(at+".preempt_delay", "only applies with preempt: true")
		}
		switch id := g.VirtualMACID; {
		case l.bad[at+".virtual_mac_id"] || id == 0:
		case id < 1 || id > 255:
			l.add(at+".virtual_mac_id", fmt.Sprintf("%d is out of range (1..255)", id))
		default:
			if j, dup := macs[id]; dup {
				l.add(at+".virtual_mac_id", fmt.Sprintf("%d (%s) is already the virtual MAC of %s", id, g.VirtualMAC(), l.groupRef(c, j)))
			} else {
				macs[id] = i
			}
		}
		l.validateGARP(at+".garp", &g.GARP)
	}
	l.checkHost(c)
}

// validIfname follows the kernel's dev_valid_name: IFNAMSIZ allows 15
// bytes, and "eth0:1" is an address label, not an interface.
func validIfname(s string) bool {
	return len(s) <= 15 && s != "." && s != ".." &&
		!strings.ContainsFunc(s, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) })
}

// validateAddresses checks the addresses of group i for duplicates in the
// group and in the groups before it, recording which group has each in
// holders.
func (l *loader) validateAddresses(c *Config, i int, holders map[netip.Addr]int) {
	g, at := c.VIPGroups[i], fmt.Sprintf("vip_groups[%d].addresses", i)
	switch {
	case l.bad[at]:
		return
	case g.Addresses == nil:
		l.add(at, "missing")
	case len(g.Addresses) == 0:
		l.add(at, "needs at least one address")
	}
	seen := map[netip.Addr]int{}
	for j, p := range g.Addresses {
		item := fmt.Sprintf("%s[%d]", at, j)
		if l.bad[item] {
			continue
		}
		a := p.Addr()
		if k, dup := seen[a]; dup {
			l.add(item, fmt.Sprintf("%s is already %s[%d]", a, at, k))
			continue
		}
		seen[a] = j
		if k, taken := holders[a]; taken {
			l.add(item, fmt.Sprintf("%s is already in %s", a, l.groupRef(c, k)))
			continue
		}
		holders[a] = i
	}
}

func (l *loader) validateCandidates(group string, cands []Candidate, nodes map[string]int) {
	at := group + ".candidates"
	switch {
	case l.bad[at]:
		return
	case cands == nil:
		l.add(at, "missing")
	case len(cands) == 0:
		l.add(at, "needs at least one candidate")
	}
	seen := map[string]int{}
	for j, cd := range cands {
		item := fmt.Sprintf("%s[%d]", at, j)
		if l.bad[item] {
			continue
		}
		switch {
		case l.bad[item+".node"]:
		case cd.Node == "":
			l.add(item+".node", "missing")
		case !model.ValidName(cd.Node):
			l.add(item+".node", fmt.Sprintf("%q is not a valid name: %s", cd.Node, nameRule))
		default:
			if k, dup := seen[cd.Node]; dup {
				l.add(item+".node", fmt.Sprintf("%q is already a candidate (%s[%d])", cd.Node, at, k))
				break
			}
			seen[cd.Node] = j
			if _, known := nodes[cd.Node]; nodes != nil && !known {
				l.add(item+".node", fmt.Sprintf("unknown node %q: not in bus.cluster.peers", cd.Node))
			}
		}
		if p := cd.Priority; !l.bad[item+".priority"] && (p < 1 || p > 255) {
			l.add(item+".priority", fmt.Sprintf("%d is out of range (1..255)", p))
		}
	}
}

func (l *loader) validateGARP(at string, g *GARP) {
	if n := g.Count; !l.bad[at+".count"] && (n < 1 || n > 100) {
		l.add(at+".count", fmt.Sprintf("%d is out of range (1..100)", n))
	}
	l.checkRange(at+".interval", g.Interval, 10*time.Millisecond, 10*time.Second)
	l.checkRange(at+".repeat_after", g.RepeatAfter, 0, time.Hour)
	if d := g.Refresh; !l.bad[at+".refresh"] && d != 0 && (d < time.Second || d > 24*time.Hour) {
		l.add(at+".refresh", fmt.Sprintf("%s is out of range (1s..24h, or 0s for never)", fmtDur(d)))
	}
	g.Mode = l.oneOf(at+".mode", g.Mode, "request", "reply", "both")
}

// groupRef names group i in a message about another.
func (l *loader) groupRef(c *Config, i int) string {
	name := c.VIPGroups[i].Name
	if name == "" || l.bad[fmt.Sprintf("vip_groups[%d].name", i)] {
		return fmt.Sprintf("vip_groups[%d]", i)
	}
	return fmt.Sprintf("group %q (vip_groups[%d])", name, i)
}

// checkHost checks the groups this node is a candidate for against this
// host: the interface must exist and each address must lie in a subnet
// the interface already has, or it could not be announced there. VIPs do
// not count as the interface's subnets, so that the verdict does not
// depend on whether this node holds them just now.
func (l *loader) checkHost(c *Config) {
	if l.bad["node"] {
		return
	}
	vips := map[netip.Prefix]bool{}
	for _, g := range c.VIPGroups {
		for _, p := range g.Addresses {
			vips[p] = true
		}
	}
	type result struct {
		prefixes []netip.Prefix
		err      error
	}
	seen := map[string]result{}
	for i, g := range c.VIPGroups {
		at := fmt.Sprintf("vip_groups[%d]", i)
		if l.bad[at] || l.bad[at+".interface"] || l.bad[at+".candidates"] || !g.hasCandidate(c.Node) {
			continue
		}
		r, ok := seen[g.Interface]
		if !ok {
			r.prefixes, r.err = l.o.Interfaces(g.Interface)
			seen[g.Interface] = r
		}
		switch {
		case errors.Is(r.err, fs.ErrNotExist):
			l.add(at+".interface", fmt.Sprintf("no interface %q on this host", g.Interface))
			continue
		case r.err != nil:
			l.add(at+".interface", fmt.Sprintf("cannot read the addresses of %q: %s", g.Interface, oneLine(r.err.Error())))
			continue
		}
		var subnets []netip.Prefix
		for _, p := range r.prefixes {
			if !vips[p] {
				subnets = append(subnets, p)
			}
		}
		for j, p := range g.Addresses {
			item := fmt.Sprintf("%s.addresses[%d]", at, j)
			if l.bad[item] || slices.ContainsFunc(subnets, func(s netip.Prefix) bool { return s.Contains(p.Addr()) }) {
				continue
			}
			l.add(item, fmt.Sprintf("%s is outside every subnet of %s (%s)", p.Addr(), g.Interface, listSubnets(g.Interface, r.prefixes, subnets)))
		}
	}
}

func (g VIPGroup) hasCandidate(node string) bool {
	return slices.ContainsFunc(g.Candidates, func(cd Candidate) bool { return cd.Node == node })
}

func listSubnets(ifname string, all, subnets []netip.Prefix) string {
	switch {
	case len(all) == 0:
		return ifname + " has no addresses"
	case len(subnets) == 0:
		return ifname + " has only VIP addresses"
	}
	s := make([]string, len(subnets))
	for i, p := range subnets {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// hostInterfaces is Options.Interfaces for this host. The error
// net.InterfaceByName gives for a missing interface is not exported, so
// the name is looked for in the host's table when it fails.
func hostInterfaces(name string) ([]netip.Prefix, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		ifs, lerr := net.Interfaces()
		if lerr == nil && !slices.ContainsFunc(ifs, func(ifc net.Interface) bool { return ifc.Name == name }) {
			return nil, fmt.Errorf("%w: %s", ErrNoInterface, name)
		}
		return nil, err
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		ones, bits := ipn.Mask.Size()
		if !ok || bits == 0 {
			continue
		}
		if ip.Is4In6() && bits == 128 {
			if ones < 96 {
				continue
			}
			ones -= 96
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

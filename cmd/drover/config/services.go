package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/droverha/drover/model"
)

// The words a service's keys take. Schedulers are those of ipvsadm(8).
var (
	schedulers     = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}
	schedulerFlags = []string{"sh-port", "sh-fallback", "mh-port", "mh-fallback"}
	protocols      = []string{"tcp", "udp", "sctp"}
	families       = []string{"inet", "inet6"}
	forwards       = []string{model.ForwardNAT, model.ForwardDR, model.ForwardTunnel}
	onFailures     = []string{model.OnFailureRemove, model.OnFailureQuiescent}
)

// forwardAliases are the words ipvsadm and ldirectord use for the
// forwarding methods, named in the message that refuses them.
var forwardAliases = map[string]string{
	"masq": model.ForwardNAT, "masquerading": model.ForwardNAT,
	"gate": model.ForwardDR, "gatewaying": model.ForwardDR, "route": model.ForwardDR, "direct": model.ForwardDR,
	"ipip": model.ForwardTunnel, "tun": model.ForwardTunnel,
}

// maxPersistence is the longest persistence timeout: IPVS keeps it in
// seconds in a signed 32-bit field.
const maxPersistence = math.MaxInt32 * time.Second

// toServices reads the file's list of services; walk has checked the
// keys and recorded in loader.given which of them have values. Decoding
// converts types, parses addresses and fills the defaults that do not
// depend on other keys; validateServices does the rest.
func toServices(raw any, bad report) []model.VirtualService {
	items, ok := raw.([]any)
	if !ok {
		if raw != nil {
			bad("", "expected a list of services, got "+describe(raw))
		}
		return nil
	}
	out := make([]model.VirtualService, len(items))
	for i, item := range items {
		at := bad.under(fmt.Sprintf("[%d]", i))
		m, ok := item.(map[string]any)
		if !ok {
			at("", "expected a mapping with name, address or fwmark, and real_servers, got "+describe(item))
			continue
		}
		out[i] = toService(m, at)
	}
	return out
}

func toService(m map[string]any, bad report) model.VirtualService {
	s := model.VirtualService{
		Name:           toString(m["name"], bad.under(".name")),
		Protocol:       toString(m["protocol"], bad.under(".protocol")),
		Family:         toString(m["family"], bad.under(".family")),
		Scheduler:      defaultScheduler,
		SchedulerFlags: toList(m["scheduler_flags"], false, bad.under(".scheduler_flags")),
		OnFailure:      defaultOnFailure,
		Quorum:         toInt(m["quorum"], false, bad.under(".quorum")),
		Hysteresis:     toInt(m["hysteresis"], false, bad.under(".hysteresis")),
	}
	if v := m["address"]; v != nil {
		s.Address = toAddrPort(v, true, bad.under(".address"))
	}
	if v := m["fwmark"]; v != nil {
		failed := false
		bad := bad.under(".fwmark")
		n := toInt(v, false, func(suffix, reason string) { failed = true; bad(suffix, reason) })
		switch {
		case failed:
		case n < 1 || int64(n) > math.MaxUint32:
			bad("", fmt.Sprintf("%d is out of range (1..%d)", n, uint32(math.MaxUint32)))
		default:
			s.FWMark = uint32(n)
		}
	}
	if v := m["scheduler"]; v != nil {
		s.Scheduler = toString(v, bad.under(".scheduler"))
	}
	if v := m["on_failure"]; v != nil {
		s.OnFailure = toString(v, bad.under(".on_failure"))
	}
	switch p := m["persistence"].(type) {
	case nil:
	case map[string]any:
		bad := bad.under(".persistence")
		s.Persistence = &model.Persistence{
			Timeout: toDuration(p["timeout"], bad.under(".timeout")),
			Netmask: toNetmask(p["netmask"], bad.under(".netmask")),
		}
	default:
		bad(".persistence", "expected a mapping with timeout and netmask, got "+describe(p))
	}
	switch v := m["sorry_server"].(type) {
	case nil:
	case string:
		s.Sorry = &model.RealServer{Address: toAddrPort(v, false, bad.under(".sorry_server")), Weight: defaultWeight, Forward: defaultForward}
	case map[string]any:
		bad := bad.under(".sorry_server")
		s.Sorry = &model.RealServer{Weight: defaultWeight, Forward: defaultForward}
		if a := v["address"]; a != nil {
			s.Sorry.Address = toAddrPort(a, false, bad.under(".address"))
		}
		if f := v["forward"]; f != nil {
			s.Sorry.Forward = toString(f, bad.under(".forward"))
		}
	default:
		bad(".sorry_server", "expected an address such as 198.51.100.99:80, or a mapping with address and forward, got "+describe(v))
	}

	s.Check = defaultCheck()
	check, ok := m["check"].(map[string]any)
	if !ok && m["check"] != nil {
		bad(".check", "expected a mapping, got "+describe(m["check"]))
	}
	applyCheck(check, &s.Check, bad.under(".check"))
	timeoutSet := check["timeout"] != nil
	if !timeoutSet && s.Check.Interval > 0 {
		s.Check.Timeout = min(defaultCheckTimeout, s.Check.Interval)
	}

	switch rs := m["real_servers"].(type) {
	case nil:
	case []any:
		s.RealServers = make([]model.RealServer, len(rs))
		for j, item := range rs {
			at := bad.under(fmt.Sprintf(".real_servers[%d]", j))
			m, ok := item.(map[string]any)
			if !ok {
				at("", "expected a mapping with address, weight, forward, node and check, got "+describe(item))
				continue
			}
			s.RealServers[j] = toRealServer(m, s.Check, timeoutSet, at)
		}
	default:
		bad(".real_servers", "expected a list of real servers, got "+describe(rs))
	}
	return s
}

// toRealServer reads a real server. Its check, if it has one, is the
// service's with the keys it gives put over it.
func toRealServer(m map[string]any, check model.Check, timeoutSet bool, bad report) model.RealServer {
	r := model.RealServer{Weight: defaultWeight, Forward: defaultForward, Node: toString(m["node"], bad.under(".node"))}
	if v := m["address"]; v != nil {
		r.Address = toAddrPort(v, false, bad.under(".address"))
	}
	if v := m["weight"]; v != nil {
		r.Weight = toInt(v, false, bad.under(".weight"))
	}
	if v := m["forward"]; v != nil {
		r.Forward = toString(v, bad.under(".forward"))
	}
	switch v := m["check"].(type) {
	case nil:
	case map[string]any:
		// A check that changes nothing is the service's: nil.
		if slices.ContainsFunc(slices.Collect(maps.Values(v)), func(x any) bool { return x != nil }) {
			r.Check = overrideCheck(check, timeoutSet, v, bad.under(".check"))
		}
	default:
		bad(".check", "expected a mapping, got "+describe(v))
	}
	return r
}

// toNetmask reads a persistence netmask: a prefix length, or an IPv4
// mask in dotted form as ipvsadm -M takes it.
func toNetmask(raw any, bad report) int {
	s, ok := raw.(string)
	if !ok {
		return toInt(raw, false, bad)
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil && a.Is4() {
		b := a.As4()
		ones, bits := net.IPMask(b[:]).Size()
		if bits != 0 {
			return ones
		}
	}
	bad("", fmt.Sprintf("%q is not a netmask: use a prefix length such as 24, or an IPv4 mask such as 255.255.255.0", s))
	return 0
}

func toAddrPort(raw any, needPort bool, bad report) netip.AddrPort {
	s, ok := raw.(string)
	if !ok {
		bad("", "expected an address such as 192.0.2.10:80, got "+describe(raw))
		return netip.AddrPort{}
	}
	ap, reason := parseAddrPort(s, needPort)
	if reason != "" {
		bad("", reason)
	}
	return ap
}

// parseAddrPort reads IP:port, IPv6 in brackets. Without needPort the
// port may be left out (then it is 0), and so may the brackets of an
// IPv6 address without one.
func parseAddrPort(s string, needPort bool) (netip.AddrPort, string) {
	const example = "e.g. 192.0.2.10:80, [2001:db8::10]:80"
	s = strings.TrimSpace(s)
	host, port, err := net.SplitHostPort(s)
	hasPort := err == nil
	if !hasPort {
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	a, err := netip.ParseAddr(host)
	switch {
	case err != nil && !hasPort:
		return netip.AddrPort{}, fmt.Sprintf("%q is not IP:port (%s)", s, example)
	case err != nil:
		return netip.AddrPort{}, fmt.Sprintf("%q: %q is not an IP address (%s)", s, host, example)
	case a.Zone() != "":
		return netip.AddrPort{}, fmt.Sprintf("%q: leave out the zone; IPVS addresses have none", s)
	case a.Is4In6():
		return netip.AddrPort{}, fmt.Sprintf("%q: write an IPv4 address as IPv4, e.g. %s", s, netip.AddrPortFrom(a.Unmap(), 80))
	case a.IsUnspecified():
		return netip.AddrPort{}, fmt.Sprintf("%q: %s is the unspecified address", s, a)
	case a.IsMulticast():
		return netip.AddrPort{}, fmt.Sprintf("%q: %s is a multicast address", s, a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.AddrPort{}, fmt.Sprintf("%q: %s is the broadcast address", s, a)
	case !hasPort && needPort:
		return netip.AddrPort{}, fmt.Sprintf("%q needs a port, e.g. %s", s, netip.AddrPortFrom(a, 80))
	case !hasPort:
		return netip.AddrPortFrom(a, 0), ""
	}
	n, err := strconv.ParseUint(port, 10, 64)
	switch {
	case port == "":
		return netip.AddrPort{}, fmt.Sprintf("%q: the port is empty", s)
	case strings.Trim(port, "0123456789") != "":
		return netip.AddrPort{}, fmt.Sprintf("%q: port %q is not a number", s, port)
	case err != nil || n < 1 || n > math.MaxUint16:
		return netip.AddrPort{}, fmt.Sprintf("%q: port %s is out of range (1..65535)", s, port)
	}
	return netip.AddrPortFrom(a, uint16(n)), ""
}

// validateServices checks each service, then the services against each
// other, and fills the defaults that depend on other keys.
func (l *loader) validateServices(c *Config) {
	const key = "services"
	if l.bad[key] {
		return
	}
	names := map[string]int{}
	taken := map[string]int{} // address/protocol or fwmark/family, to the service that has it
	for i := range c.Services {
		s, at := &c.Services[i], fmt.Sprintf("%s[%d]", key, i)
		if l.bad[at] {
			continue
		}
		switch {
		case l.bad[at+".name"]:
		case s.Name == "":
			l.add(at+".name", "missing")
		case !model.ValidName(s.Name):
			l.add(at+".name", fmt.Sprintf("%q is not a valid name: %s", s.Name, nameRule))
		default:
			if j, dup := names[s.Name]; dup {
				l.add(at+".name", fmt.Sprintf("%q is already the name of %s[%d]", s.Name, key, j))
			} else {
				names[s.Name] = i
			}
		}
		id, idKey := l.validateFrontEnd(at, s)
		s.Scheduler = l.oneOf(at+".scheduler", s.Scheduler, schedulers...)
		s.OnFailure = l.oneOf(at+".on_failure", s.OnFailure, onFailures...)
		l.validatePersistence(at, s)
		l.validateFlags(at, s)
		l.validateCheck(at+".check", "", &s.Check)
		l.validateRealServers(at, s)
		// Last, as it marks the address bad, and a valid address
		// taken by another service still gives the real servers' ports.
		if id != "" {
			if j, dup := taken[id]; dup {
				l.add(idKey, fmt.Sprintf("%s is already the %s of %s", id, strings.TrimPrefix(idKey, at+"."), l.serviceRef(c, j)))
			} else {
				taken[id] = i
			}
		}
	}
}

// serviceRef names service i in a message about another.
func (l *loader) serviceRef(c *Config, i int) string {
	name := c.Services[i].Name
	if name == "" || l.bad[fmt.Sprintf("services[%d].name", i)] {
		return fmt.Sprintf("services[%d]", i)
	}
	return fmt.Sprintf("service %q (services[%d])", name, i)
}

// validateFrontEnd checks what a service matches: an address and a
// protocol, or a firewall mark and a family. It gives, when they are
// valid, what no other service may match and the key that says so.
func (l *loader) validateFrontEnd(at string, s *model.VirtualService) (id, key string) {
	addr, mark := l.given[at+".address"], l.given[at+".fwmark"]
	switch {
	case addr && mark:
		if !l.bad[at+".fwmark"] {
			l.add(at+".fwmark", "cannot be combined with address: a service matches an address or a firewall mark")
		}
		s.FWMark = 0 // judge the rest as a service with an address
		return "", ""
	case !addr && !mark:
		if !l.bad[at+".address"] && !l.bad[at+".fwmark"] {
			l.add(at+".address", "missing: give the service an address (VIP:port) or a fwmark")
		}
		return "", ""
	case addr:
		if l.given[at+".family"] {
			l.add(at+".family", "only applies with fwmark; a service with an address has that address's family")
		}
		if l.given[at+".protocol"] {
			s.Protocol = l.oneOf(at+".protocol", s.Protocol, protocols...)
		} else {
			s.Protocol = defaultProtocol
		}
		if l.bad[at+".address"] || l.bad[at+".protocol"] {
			return "", ""
		}
		s.Family = familyOf(s.Address.Addr())
		return fmt.Sprintf("%s (%s)", s.Address, s.Protocol), at + ".address"
	}
	if l.given[at+".protocol"] {
		l.add(at+".protocol", "only applies with address; a firewall mark matches packets of any protocol")
	}
	s.Protocol = ""
	if l.given[at+".family"] {
		s.Family = l.oneOf(at+".family", s.Family, families...)
	} else {
		s.Family = defaultFamily
	}
	if l.bad[at+".fwmark"] || l.bad[at+".family"] {
		return "", ""
	}
	return fmt.Sprintf("%d (%s)", s.FWMark, s.Family), at + ".fwmark"
}

func familyOf(a netip.Addr) string {
	if a.Is4() {
		return "inet"
	}
	return "inet6"
}

// family is the service's address family, or "" while it is unknown.
func (l *loader) family(at string, s *model.VirtualService) string {
	if l.bad[at+".address"] || l.bad[at+".fwmark"] || l.bad[at+".family"] {
		return ""
	}
	return s.Family
}

func (l *loader) validatePersistence(at string, s *model.VirtualService) {
	p, key := s.Persistence, at+".persistence"
	if p == nil || l.bad[key] {
		return
	}
	switch t := p.Timeout; {
	case l.bad[key+".timeout"]:
	case !l.given[key+".timeout"]:
		if l.given[key+".netmask"] {
			l.add(key+".netmask", "needs persistence.timeout: without a timeout there is no persistence to group clients for")
		} else {
			l.add(key+".timeout", "missing")
		}
	case t < time.Second:
		l.add(key+".timeout", fmt.Sprintf("%s is out of range (1s..%ds)", fmtDur(t), int64(maxPersistence/time.Second)))
	case t > maxPersistence:
		l.add(key+".timeout", fmt.Sprintf("%ds is out of range (1s..%ds)", int64(t/time.Second), int64(maxPersistence/time.Second)))
	case t%time.Second != 0:
		l.add(key+".timeout", fmt.Sprintf("%s is not a whole number of seconds, which IPVS counts persistence in", fmtDur(t)))
	}
	fam := l.family(at, s)
	if !l.given[key+".netmask"] {
		if fam == "inet6" {
			p.Netmask = 128
		} else {
			p.Netmask = 32
		}
		return
	}
	switch n := p.Netmask; {
	case l.bad[key+".netmask"]:
	case fam == "inet" && (n < 1 || n > 32):
		l.add(key+".netmask", fmt.Sprintf("%d is out of range for an IPv4 service (1..32)", n))
	case fam == "inet6" && (n < 1 || n > 128):
		l.add(key+".netmask", fmt.Sprintf("%d is out of range for an IPv6 service (1..128)", n))
	case fam == "" && (n < 1 || n > 128):
		l.add(key+".netmask", fmt.Sprintf("%d is out of range (1..32 for IPv4, 1..128 for IPv6)", n))
	}
}

// validateFlags checks the scheduler flags against the scheduler and
// against persistence. The -port flags hash a client's source port so
// that one client's connections spread over the real servers; a
// persistent service keeps them all on one, so the two contradict.
func (l *loader) validateFlags(at string, s *model.VirtualService) {
	key := at + ".scheduler_flags"
	if l.bad[key] {
		return
	}
	sched := s.Scheduler
	if l.bad[at+".scheduler"] {
		sched = ""
	}
	seen := map[string]int{}
	for j := range s.SchedulerFlags {
		item := fmt.Sprintf("%s[%d]", key, j)
		if l.bad[item] {
			continue
		}
		f := l.oneOf(item, s.SchedulerFlags[j], schedulerFlags...)
		s.SchedulerFlags[j] = f
		if l.bad[item] {
			continue
		}
		owner, _, _ := strings.Cut(f, "-")
		switch {
		case seen[f] > 0:
			l.add(item, fmt.Sprintf("%q is already %s[%d]", f, key, seen[f]-1))
		case sched != "" && sched != owner:
			l.add(item, fmt.Sprintf("%q only applies with scheduler %s, not %s", f, owner, sched))
		case strings.HasSuffix(f, "-port") && s.Persistence != nil:
			l.add(item, fmt.Sprintf("%q spreads a client's connections over the real servers by source port, "+
				"but persistence keeps them on one; drop one of the two", f))
		}
		seen[f] = j + 1
	}
}

// validateRealServers checks the real servers and the sorry server, then
// the quorum against their weights, and fills the ports left out.
func (l *loader) validateRealServers(at string, s *model.VirtualService) {
	key := at + ".real_servers"
	switch {
	case l.bad[key]:
		return
	case len(s.RealServers) == 0 && s.Sorry == nil && !l.bad[at+".sorry_server"]:
		l.add(key, "needs at least one real server, or a sorry_server")
	}
	seen := map[netip.AddrPort]int{}
	total, totalOK := 0, true
	for j := range s.RealServers {
		r, item := &s.RealServers[j], fmt.Sprintf("%s[%d]", key, j)
		if l.bad[item] {
			totalOK = false
			continue
		}
		if l.validateDest(at, s, item+".address", item+".forward", r) {
			if k, dup := seen[r.Address]; dup {
				l.add(item+".address", fmt.Sprintf("%s is already %s[%d]", showDest(r.Address), key, k))
			} else {
				seen[r.Address] = j
			}
		}
		switch w := r.Weight; {
		case l.bad[item+".weight"]:
			totalOK = false
		case w < 0 || w > math.MaxUint16:
			l.add(item+".weight", fmt.Sprintf("%d is out of range (0..65535)", w))
			totalOK = false
		default:
			total += w
		}
		if r.Node != "" && !l.bad[item+".node"] && !model.ValidName(r.Node) {
			l.add(item+".node", fmt.Sprintf("%q is not a valid name: %s", r.Node, nameRule))
		}
		check := &s.Check
		if r.Check != nil {
			l.validateCheck(item+".check", at+".check", r.Check)
			check = r.Check
		}
		if s.FWMark != 0 && r.Address.IsValid() && !l.bad[item+".address"] && r.Address.Port() == 0 && check.Port == 0 &&
			slices.Contains(checkKinds, check.Kind) && check.Kind != "exec" && check.Kind != "none" {
			l.add(item+".address", fmt.Sprintf("has no port for its %s check to probe (a firewall-mark service's real servers need none): "+
				"give it a port or set check.port", check.Kind))
		}
	}
	if sorry := s.Sorry; sorry != nil && !l.bad[at+".sorry_server"] {
		// The address is the value itself, or the mapping's address.
		addrKey, fwdKey := at+".sorry_server", at+".sorry_server.forward"
		if l.given[addrKey+".address"] || l.given[fwdKey] || !sorry.Address.IsValid() {
			addrKey += ".address"
		}
		if l.validateDest(at, s, addrKey, fwdKey, sorry) {
			if k, dup := seen[sorry.Address]; dup {
				l.add(addrKey, fmt.Sprintf("%s is already %s[%d]; a sorry server answers when the real servers cannot", showDest(sorry.Address), key, k))
			}
		}
	}
	l.validateQuorum(at, s, total, totalOK)
}

// showDest writes a real server's address, without a port it has none.
func showDest(a netip.AddrPort) string {
	if a.Port() == 0 {
		return a.Addr().String()
	}
	return a.String()
}

// validateDest checks a real or sorry server's address and forwarding
// against the service, filling a port left out with the service's. It
// says whether the address is valid.
func (l *loader) validateDest(at string, s *model.VirtualService, addrKey, fwdKey string, r *model.RealServer) bool {
	if l.given[fwdKey] && !l.bad[fwdKey] {
		if alias, ok := forwardAliases[strings.ToLower(r.Forward)]; ok {
			l.add(fwdKey, fmt.Sprintf("%q is not one of %s; drover calls it %s", r.Forward, strings.Join(forwards, ", "), alias))
		} else {
			r.Forward = l.oneOf(fwdKey, r.Forward, forwards...)
		}
	}
	switch {
	case l.bad[addrKey]:
		return false
	case !r.Address.IsValid():
		l.add(addrKey, "missing")
		return false
	}
	fam := l.family(at, s)
	vip := s.Address
	if l.bad[at+".address"] || s.FWMark != 0 {
		vip = netip.AddrPort{}
	}
	if r.Address.Port() == 0 && vip.IsValid() {
		r.Address = netip.AddrPortFrom(r.Address.Addr(), vip.Port())
	}
	if l.bad[fwdKey] {
		return true
	}
	if rf := familyOf(r.Address.Addr()); fam != "" && rf != fam && r.Forward != model.ForwardTunnel {
		l.add(addrKey, fmt.Sprintf("%s is %s and the service is %s: only forward: tunnel can mix address families",
			r.Address.Addr(), familyName(rf), familyName(fam)))
		return true
	}
	if vip.IsValid() && r.Forward != model.ForwardNAT && r.Address.Port() != vip.Port() {
		l.add(addrKey, fmt.Sprintf("port %d differs from the service's (%d): forward: %s cannot change the port; use the service's port or forward: nat",
			r.Address.Port(), vip.Port(), r.Forward))
	}
	return true
}

func familyName(fam string) string {
	if fam == "inet6" {
		return "IPv6"
	}
	return "IPv4"
}

// validateQuorum checks the quorum against the real servers' weights. As
// the manager counts it, a service needs a healthy weight of at least
// max(quorum, 1) and, once short, regains it at that plus hysteresis.
func (l *loader) validateQuorum(at string, s *model.VirtualService, total int, totalOK bool) {
	qk, hk := at+".quorum", at+".hysteresis"
	qOK, hOK := !l.bad[qk], !l.bad[hk]
	if q := s.Quorum; qOK && q < 0 {
		l.add(qk, fmt.Sprintf("%d is out of range (at least 0)", q))
		qOK = false
	}
	if h := s.Hysteresis; hOK && h < 0 {
		l.add(hk, fmt.Sprintf("%d is out of range (at least 0)", h))
		hOK = false
	}
	if !qOK || !hOK {
		return
	}
	switch q, h := s.Quorum, s.Hysteresis; {
	case !totalOK || l.bad[at+".real_servers"]:
	case q > total:
		l.add(qk, fmt.Sprintf("%d is more than the total weight of the real servers (%d)", q, total))
	case h > 0 && h > total-max(q, 1): // the sum might overflow
		l.add(hk, fmt.Sprintf("%d puts the weight that regains a lost quorum, %d + %d, above the total weight of the real servers (%d): it would never come back",
			h, max(q, 1), h, total))
	}
}

package config

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/droverha/drover/model"
)

// SNMP says how the agent answers SNMP for the DROVER-MIB: as an AgentX
// subagent of net-snmp's snmpd (RFC 2741), as an agent of its own, or both.
type SNMP struct {
	AgentX     AgentX
	Standalone Standalone
	// Receivers are where the standalone agent sends notifications. A
	// subagent's go through snmpd, to its trap sinks.
	Receivers []SNMPReceiver
	// The standalone agent's system group (RFC 3418); snmpd answers
	// for it in subagent mode. SysName defaults to the node's name.
	SysName, SysContact, SysLocation string
}

// AgentX connects to snmpd's master agent.
type AgentX struct {
	Enabled bool
	Network string // "unix" or "tcp", as net.Dial takes it
	Address string // a socket path, or host:port
}

// Standalone is the agent answering SNMP itself; Listen is empty when it
// does not.
type Standalone struct {
	Listen      string     // host:port (UDP)
	Communities []string   // SNMPv2c read-only communities
	Users       []SNMPUser // SNMPv3 USM users (RFC 3414), authPriv only
}

// SNMPUser is an SNMPv3 user. Protocols are "SHA" or "SHA-256" (auth),
// "AES" or "AES-256" (priv).
type SNMPUser struct {
	Name                         string
	AuthProtocol, AuthPassphrase string
	PrivProtocol, PrivPassphrase string
}

// SNMPReceiver is where the standalone agent sends notifications: with
// Community for Version "2c", as User for Version "3". Address is
// host:port, the port 162 if the file gave none.
type SNMPReceiver struct {
	Address   string
	Version   string
	Community string
	User      string
	Inform    bool // an InformRequest, acknowledged and resent, rather than a trap
}

// The words SNMP keys take; the file may write them in any case.
var (
	authProtocols = []string{"SHA", "SHA-256"}
	privProtocols = []string{"AES", "AES-256"}
	snmpVersions  = []string{"2c", "3"}
)

// Secrets print as redacted, whatever their length.
const redacted = "********"

// Redacted is a copy of c, for printing, with the SNMP communities and
// passphrases replaced by "********"; an empty one stays empty. The copy
// shares with c what it does not change.
func (c *Config) Redacted() *Config {
	r := *c
	r.SNMP.Standalone = c.SNMP.Standalone.redacted()
	r.SNMP.Receivers = slices.Clone(c.SNMP.Receivers)
	for i := range r.SNMP.Receivers {
		r.SNMP.Receivers[i] = r.SNMP.Receivers[i].redacted()
	}
	return &r
}

// String hides the communities and passphrases, so that printing them
// with fmt or slog's text handler does not show them.
func (s Standalone) String() string {
	type plain Standalone // without this method
	return fmt.Sprintf("%+v", plain(s.redacted()))
}

// String hides the passphrases.
func (u SNMPUser) String() string {
	type plain SNMPUser
	return fmt.Sprintf("%+v", plain(u.redacted()))
}

// String hides the community.
func (r SNMPReceiver) String() string {
	type plain SNMPReceiver
	return fmt.Sprintf("%+v", plain(r.redacted()))
}

func (s Standalone) redacted() Standalone {
	s.Communities = slices.Clone(s.Communities)
	for i, c := range s.Communities {
		s.Communities[i] = redact(c)
	}
	s.Users = slices.Clone(s.Users)
	for i := range s.Users {
		s.Users[i] = s.Users[i].redacted()
	}
	return s
}

func (u SNMPUser) redacted() SNMPUser {
	u.AuthPassphrase, u.PrivPassphrase = redact(u.AuthPassphrase), redact(u.PrivPassphrase)
	return u
}

func (r SNMPReceiver) redacted() SNMPReceiver {
	r.Community = redact(r.Community)
	return r
}

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}

// Defaults of the snmp keys.
const (
	defaultAgentXSocket = "/var/agentx/master" // net-snmp's
	defaultAuthProtocol = "SHA"
	defaultPrivProtocol = "AES"
	defaultTrapPort     = "162" // snmptrap, RFC 3413
)

// RFC 3414: a USM user name is 1 to 32 octets (SnmpAdminString), and a
// passphrase at least 8, or the key it makes is too easily guessed.
const (
	maxUserName   = 32
	minPassphrase = 8
	maxDisplay    = 255 // a DisplayString (RFC 2579), as the system group's are
)

// agentxSocket is the type snmp.agentx.socket decodes into: the text
// names both the network and the address of AgentX.
type agentxSocket AgentX

// toSocket reads snmp.agentx.socket as net-snmp's agentXSocket has it:
// a path, "unix:PATH", "tcp:HOST:PORT" or "HOST:PORT". AgentX runs over
// TCP or a Unix socket only (RFC 2741, section 8).
func toSocket(raw any, p *agentxSocket, bad report) {
	if raw == nil {
		raw = defaultAgentXSocket
	}
	s := strings.TrimSpace(toString(raw, bad))
	if s == "" {
		if _, isString := raw.(string); isString {
			bad("", "is empty; leave it out for "+defaultAgentXSocket)
		}
		return
	}
	network, addr, reason := parseSocket(s)
	if reason != "" {
		bad("", reason)
		return
	}
	p.Network, p.Address = network, addr
}

func parseSocket(s string) (network, addr, reason string) {
	const forms = "a socket path such as " + defaultAgentXSocket + ", unix:PATH, tcp:HOST:PORT or HOST:PORT"
	scheme, rest, hasScheme := strings.Cut(s, ":")
	switch {
	case strings.HasPrefix(s, "/"):
		return "unix", filepath.Clean(s), ""
	case hasScheme && strings.EqualFold(scheme, "unix"):
		if !filepath.IsAbs(rest) {
			return "", "", fmt.Sprintf("%q: the socket path must be absolute", s)
		}
		return "unix", filepath.Clean(rest), ""
	case hasScheme && strings.EqualFold(scheme, "tcp"):
		if reason := addrProblem(rest, false); reason != "" {
			return "", "", reason
		}
		return "tcp", canonicalAddr(rest), ""
	case hasScheme && (strings.EqualFold(scheme, "udp") || strings.EqualFold(scheme, "udp6")):
		return "", "", fmt.Sprintf("%q: AgentX runs over tcp or a unix socket (RFC 2741), not udp", s)
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return "", "", fmt.Sprintf("%q is not %s", s, forms)
	}
	if reason := addrProblem(s, false); reason != "" {
		return "", "", reason
	}
	return "tcp", canonicalAddr(s), ""
}

// toSNMPUsers reads the file's list of users; walk has checked the
// items' keys.
func toSNMPUsers(raw any, bad report) []SNMPUser {
	items, ok := raw.([]any)
	if !ok {
		if raw != nil {
			bad("", "expected a list of users (name, auth_protocol, auth_passphrase, priv_protocol, priv_passphrase), got "+describe(raw))
		}
		return nil
	}
	out := make([]SNMPUser, len(items))
	for i, item := range items {
		at := bad.under(fmt.Sprintf("[%d]", i))
		m, ok := item.(map[string]any)
		if !ok {
			at("", "expected a mapping with name, auth_protocol, auth_passphrase, priv_protocol and priv_passphrase, got "+describe(item))
			continue
		}
		u := SNMPUser{
			Name:           toString(m["name"], at.under(".name")),
			AuthProtocol:   defaultAuthProtocol,
			AuthPassphrase: toString(m["auth_passphrase"], at.under(".auth_passphrase")),
			PrivProtocol:   defaultPrivProtocol,
			PrivPassphrase: toString(m["priv_passphrase"], at.under(".priv_passphrase")),
		}
		if v := m["auth_protocol"]; v != nil {
			u.AuthProtocol = toString(v, at.under(".auth_protocol"))
		}
		if v := m["priv_protocol"]; v != nil {
			u.PrivProtocol = toString(v, at.under(".priv_protocol"))
		}
		out[i] = u
	}
	return out
}

// toSNMPReceivers reads the file's list of receivers; walk has checked
// the items' keys.
func toSNMPReceivers(raw any, bad report) []SNMPReceiver {
	items, ok := raw.([]any)
	if !ok {
		if raw != nil {
			bad("", "expected a list of receivers (address, version, community or user, inform), got "+describe(raw))
		}
		return nil
	}
	out := make([]SNMPReceiver, len(items))
	for i, item := range items {
		at := bad.under(fmt.Sprintf("[%d]", i))
		m, ok := item.(map[string]any)
		if !ok {
			at("", "expected a mapping with address, version, community or user, and inform, got "+describe(item))
			continue
		}
		out[i] = SNMPReceiver{
			Address:   toString(m["address"], at.under(".address")),
			Version:   toVersion(m["version"], at.under(".version")),
			Community: toString(m["community"], at.under(".community")),
			User:      toString(m["user"], at.under(".user")),
			Inform:    toBool(m["inform"], false, at.under(".inform")),
		}
	}
	return out
}

// toVersion reads an SNMP version, which YAML, TOML and JSON read as a
// number when it is 3.
func toVersion(raw any, bad report) string {
	switch v := raw.(type) {
	case nil:
	case string:
		return strings.TrimSpace(v)
	case int, int64, uint64, float64:
		return fmt.Sprint(v)
	default:
		bad("", "expected 2c or 3, got "+describe(v))
	}
	return ""
}

// validateSNMP checks the snmp section, and the parts of it that only
// apply in a mode against that mode being on.
func (l *loader) validateSNMP(c *Config) {
	const (
		enabled     = "snmp.agentx.enabled"
		socket      = "snmp.agentx.socket"
		listen      = "snmp.standalone.listen"
		communities = "snmp.standalone.communities"
		users       = "snmp.standalone.users"
		receivers   = "snmp.receivers"
	)
	s := &c.SNMP
	if l.explicit(socket) && !s.AgentX.Enabled && !l.bad[enabled] && !l.bad[socket] {
		l.add(socket, "only applies with snmp.agentx.enabled: true")
	}

	st := &s.Standalone
	standalone := st.Listen != "" || l.bad[listen]
	if st.Listen != "" {
		l.checkAddr(listen, st.Listen, true)
	}
	for i, community := range st.Communities {
		l.checkCommunity(fmt.Sprintf("%s[%d]", communities, i), community)
	}
	userNames := l.validateSNMPUsers(st.Users)
	if standalone && !l.bad[listen] && len(st.Communities) == 0 && len(st.Users) == 0 && !l.bad[communities] && !l.bad[users] {
		l.add(listen, "answers nobody: give snmp.standalone.communities (SNMPv2c) or snmp.standalone.users (SNMPv3)")
	}
	l.validateReceivers(s.Receivers, userNames)

	for _, sys := range []struct {
		key string
		val *string
	}{
		{"snmp.sys_name", &s.SysName},
		{"snmp.sys_contact", &s.SysContact},
		{"snmp.sys_location", &s.SysLocation},
	} {
		switch v := *sys.val; {
		case l.bad[sys.key] || !l.explicit(sys.key): // a sys_name from node is checked as node
		case len(v) > maxDisplay:
			l.add(sys.key, fmt.Sprintf("is %d bytes long; the system group's strings hold at most %d (RFC 3418)", len(v), maxDisplay))
		case strings.ContainsFunc(v, unicode.IsControl):
			l.add(sys.key, fmt.Sprintf("%q holds a control character", v))
		}
	}

	if standalone {
		return
	}
	for _, u := range []struct {
		key string
		set bool
	}{
		{communities, len(st.Communities) > 0},
		{users, len(st.Users) > 0},
		{"snmp.sys_name", l.explicit("snmp.sys_name")},
		{"snmp.sys_contact", s.SysContact != ""},
		{"snmp.sys_location", s.SysLocation != ""},
	} {
		if u.set && !l.bad[u.key] {
			l.add(u.key, "only applies with snmp.standalone.listen")
		}
	}
	if len(s.Receivers) > 0 && !l.bad[receivers] {
		l.add(receivers, "only applies with snmp.standalone.listen: a subagent's notifications go through snmpd, "+
			"to the trap2sink, informsink and trapsess lines of snmpd.conf")
	}
}

// checkCommunity checks a community without quoting it: a problem must
// not print a secret.
func (l *loader) checkCommunity(key, community string) {
	switch {
	case l.bad[key]:
	case community == "":
		l.add(key, "is empty")
	case strings.ContainsFunc(community, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		l.add(key, "holds white space or a control character")
	}
}

// validateSNMPUsers checks the users and gives their names, or nil when
// some user has no valid name, so that which exist is not known.
func (l *loader) validateSNMPUsers(users []SNMPUser) map[string]int {
	const key = "snmp.standalone.users"
	if l.bad[key] {
		return nil
	}
	names := map[string]int{}
	allNamed := true
	for i := range users {
		u, at := &users[i], fmt.Sprintf("%s[%d]", key, i)
		if l.bad[at] {
			allNamed = false
			continue
		}
		switch {
		case l.bad[at+".name"]:
			allNamed = false
		case u.Name == "":
			l.add(at+".name", "missing")
			allNamed = false
		case len(u.Name) > maxUserName:
			l.add(at+".name", fmt.Sprintf("%q is %d bytes long; a USM user name has 1 to %d (RFC 3414)", u.Name, len(u.Name), maxUserName))
			allNamed = false
		case strings.ContainsFunc(u.Name, unicode.IsControl):
			l.add(at+".name", fmt.Sprintf("%q holds a control character", u.Name))
			allNamed = false
		default:
			if j, dup := names[u.Name]; dup {
				l.add(at+".name", fmt.Sprintf("%q is already the name of %s[%d]", u.Name, key, j))
			} else {
				names[u.Name] = i
			}
		}
		u.AuthProtocol = l.oneOf(at+".auth_protocol", u.AuthProtocol, authProtocols...)
		l.checkPassphrase(at+".auth_passphrase", u.AuthPassphrase)
		u.PrivProtocol = l.oneOf(at+".priv_protocol", u.PrivProtocol, privProtocols...)
		l.checkPassphrase(at+".priv_passphrase", u.PrivPassphrase)
	}
	if !allNamed {
		return nil
	}
	return names
}

// checkPassphrase checks a passphrase without printing it, or its length.
func (l *loader) checkPassphrase(key, pass string) {
	switch {
	case l.bad[key]:
	case pass == "":
		l.add(key, "missing: users are authPriv, with both passphrases")
	case len(pass) < minPassphrase:
		l.add(key, fmt.Sprintf("is shorter than %d bytes, which RFC 3414 asks for at least", minPassphrase))
	}
}

// validateReceivers checks the notification receivers and writes their
// addresses as host:port. users holds the names of snmp.standalone.users,
// or is nil when those are not known.
func (l *loader) validateReceivers(rs []SNMPReceiver, users map[string]int) {
	const key = "snmp.receivers"
	if l.bad[key] {
		return
	}
	addrs := map[string]int{}
	for i := range rs {
		r, at := &rs[i], fmt.Sprintf("%s[%d]", key, i)
		if l.bad[at] {
			continue
		}
		switch {
		case l.bad[at+".address"]:
		case r.Address == "":
			l.add(at+".address", "missing")
		default:
			addr, reason := receiverAddr(r.Address)
			if reason != "" {
				l.add(at+".address", reason)
				break
			}
			r.Address = addr
			if j, dup := addrs[addr]; dup {
				l.add(at+".address", fmt.Sprintf("%s is already the address of %s[%d]", addr, key, j))
			} else {
				addrs[addr] = i
			}
		}
		switch {
		case l.bad[at+".version"]:
		case r.Version == "":
			l.add(at+".version", "missing: 2c (with a community) or 3 (with a user)")
		default:
			r.Version = l.oneOf(at+".version", r.Version, snmpVersions...)
		}
		version := r.Version
		if l.bad[at+".version"] {
			version = ""
		}

		if l.given[at+".community"] {
			l.checkCommunity(at+".community", r.Community)
		}
		switch {
		case version == "2c" && !l.given[at+".community"] && !l.bad[at+".community"]:
			l.add(at+".community", "missing: version 2c needs a community")
		case version == "3" && l.given[at+".community"] && !l.bad[at+".community"]:
			l.add(at+".community", "only applies with version 2c; version 3 sends as a user")
		}

		switch {
		case l.bad[at+".user"]:
		case version == "2c" && l.given[at+".user"]:
			l.add(at+".user", "only applies with version 3; version 2c sends with a community")
		case version == "3" && r.User == "":
			l.add(at+".user", "missing: version 3 needs a user, one of snmp.standalone.users")
		case version == "3" && users != nil:
			if _, ok := users[r.User]; !ok {
				l.add(at+".user", fmt.Sprintf("unknown user %q: not in snmp.standalone.users", r.User))
			}
		}
	}
}

// receiverAddr reads host:port or a host alone, which gets port 162.
// IPv6 addresses without a port need no brackets.
func receiverAddr(s string) (string, string) {
	s = strings.TrimSpace(s)
	hostport := s
	if _, _, err := net.SplitHostPort(s); err != nil {
		host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if _, aerr := netip.ParseAddr(host); aerr != nil && strings.Contains(s, ":") {
			return "", fmt.Sprintf("%q is not host:port or a host", s)
		}
		hostport = net.JoinHostPort(host, defaultTrapPort)
	}
	if reason := addrProblem(hostport, false); reason != "" {
		return "", reason
	}
	return canonicalAddr(hostport), ""
}

// droverNameHash is DROVER-MIB's DroverNameHash of name, as mib.NameHash
// computes it (this package does not import mib): the first four octets
// of its SHA-256 digest, big-endian, with 0 replaced by 1. The MIB's
// tables index nodes, VIP groups and services by it.
func droverNameHash(name string) uint32 {
	sum := sha256.Sum256([]byte(name))
	if h := binary.BigEndian.Uint32(sum[:4]); h != 0 {
		return h
	}
	return 1
}

// hashedName is a name in one of the MIB's index spaces, with the key it
// came from and how a message names it.
type hashedName struct {
	key, name, ref string
}

// checkNameHashes refuses names of one kind that differ but hash alike:
// the MIB's rows would share an index, and one would hide the other.
// Names already reported are left out. Node names come from every key
// that names a node: probes are indexed by the probing node, which may
// be a real server's agent.
func (l *loader) checkNameHashes(c *Config) {
	var groups, services, nodes []hashedName
	addNode := func(key, name string) {
		if name == "" || l.bad[key] || !model.ValidName(name) {
			return
		}
		ref := fmt.Sprintf("node %q (%s)", name, key)
		if key == "node" {
			ref = fmt.Sprintf("this node, %q", name)
		}
		nodes = append(nodes, hashedName{key, name, ref})
	}
	addNode("node", c.Node)
	for i, p := range c.Bus.Cluster.Peers {
		addNode(fmt.Sprintf("bus.cluster.peers[%d].name", i), p.Name)
	}
	for i, p := range c.Heartbeat.UDP.Peers {
		addNode(fmt.Sprintf("heartbeat.udp.peers[%d].name", i), p.Name)
	}
	for i, g := range c.VIPGroups {
		at := fmt.Sprintf("vip_groups[%d]", i)
		if g.Name != "" && !l.bad[at+".name"] && model.ValidName(g.Name) {
			groups = append(groups, hashedName{at + ".name", g.Name, l.groupRef(c, i)})
		}
		for j, cd := range g.Candidates {
			addNode(fmt.Sprintf("%s.candidates[%d].node", at, j), cd.Node)
		}
	}
	for i, s := range c.Services {
		at := fmt.Sprintf("services[%d]", i)
		if s.Name != "" && !l.bad[at+".name"] && model.ValidName(s.Name) {
			services = append(services, hashedName{at + ".name", s.Name, l.serviceRef(c, i)})
		}
		for j, r := range s.RealServers {
			addNode(fmt.Sprintf("%s.real_servers[%d].node", at, j), r.Node)
		}
	}
	l.uniqueHashes("VIP groups", groups)
	l.uniqueHashes("services", services)
	l.uniqueHashes("nodes", nodes)
}

func (l *loader) uniqueHashes(kind string, names []hashedName) {
	seen := map[string]bool{}
	first := map[uint32]hashedName{}
	for _, n := range names {
		if seen[n.name] {
			continue
		}
		seen[n.name] = true
		h := l.o.nameHash(n.name)
		if prev, dup := first[h]; dup {
			l.add(n.key, fmt.Sprintf("%q has the same DroverNameHash (%d) as %s: the SNMP tables index %s by it, so one would hide the other; rename one",
				n.name, h, prev.ref, kind))
			continue
		}
		first[h] = n
	}
}

package lab

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Topology is a lab: one subnet, the hosts on it, and what their agents
// are configured with.
type Topology struct {
	Name    string       // [a-z0-9]{1,8}; every resource is named drl-<Name>-...
	Subnet  netip.Prefix // IPv4, inside 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24
	Subnet6 netip.Prefix // optional (zero), inside 2001:db8::/32
	Hosts   []Host
	// Agent is laid over every generated agent configuration: mappings
	// are merged key by key, anything else (lists too) replaces the
	// generated value, and a null removes a generated key.
	Agent map[string]any

	file  string         // where it was loaded from, for problems
	lines map[string]int // key (hosts[1].addr) -> line in file
	// agentNode is the agent map as written, so that generated files keep
	// its keys in the author's order; agentSeen is Agent as parsed, to
	// tell whether a caller has changed Agent since.
	agentNode *yaml.Node
	agentSeen map[string]any
}

// Host is one network namespace on the lab's bridge.
type Host struct {
	Name  string     // [a-z0-9]{1,6}
	Addr  netip.Addr // IPv4 address of eth0, in the subnet
	Addr6 netip.Addr // optional (zero) IPv6 address of eth0, in subnet6
	Agent bool       // run drover agent in this namespace
}

// The documentation ranges (RFC 5737, RFC 3849): labs never use anything
// else, so a lab cannot collide with a real network.
var (
	docRanges = []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
	}
	docRange6 = netip.MustParsePrefix("2001:db8::/32")

	labNameRE  = regexp.MustCompile(`^[a-z0-9]{1,8}$`)
	hostNameRE = regexp.MustCompile(`^[a-z0-9]{1,6}$`)
)

const (
	labNameRule  = "use 1 to 8 lower-case letters or digits"
	hostNameRule = "use 1 to 6 lower-case letters or digits"
	switchHost   = "sw" // the switch namespace is drl-<lab>-sw
)

// ValidLabName reports whether s may name a lab.
func ValidLabName(s string) bool { return labNameRE.MatchString(s) }

// HostMAC is the MAC address of host's eth0 in lab: locally administered
// unicast, 02:00 followed by the first four bytes of
// SHA-256("<lab>/<host>").
func HostMAC(lab, host string) net.HardwareAddr {
	sum := sha256.Sum256([]byte(lab + "/" + host))
	return net.HardwareAddr{0x02, 0x00, sum[0], sum[1], sum[2], sum[3]}
}

// Host returns the host of that name.
func (t *Topology) Host(name string) (Host, bool) {
	i := slices.IndexFunc(t.Hosts, func(h Host) bool { return h.Name == name })
	if i < 0 {
		return Host{}, false
	}
	return t.Hosts[i], true
}

// AgentHosts returns the hosts that run an agent, in topology order.
func (t *Topology) AgentHosts() []Host {
	var out []Host
	for _, h := range t.Hosts {
		if h.Agent {
			out = append(out, h)
		}
	}
	return out
}

// LoadTopology reads and checks a topology file. Problems name the file,
// line and key.
func LoadTopology(path string) (*Topology, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading topology: %w", err)
	}
	return parse(path, b)
}

// ParseTopology reads and checks a topology.
func ParseTopology(b []byte) (*Topology, error) { return parse("", b) }

// Validate checks a topology, built in Go or parsed. The error is
// Problems.
func (t *Topology) Validate() error {
	if ps := t.check(nil); len(ps) > 0 {
		return ps
	}
	return nil
}

// parser collects problems with the lines they are on; bad holds the keys
// already reported, which later checks skip.
type parser struct {
	t     *Topology
	probs Problems
	bad   map[string]bool
}

func (p *parser) add(line int, key, reason string) {
	p.bad[key] = true
	p.probs = append(p.probs, Problem{File: p.t.file, Line: line, Key: key, Reason: reason})
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parse(file string, b []byte) (*Topology, error) {
	t := &Topology{file: file, lines: map[string]int{}}
	p := &parser{t: t, bad: map[string]bool{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return nil, Problems{{File: file, Line: line, Reason: "invalid YAML: " + msg}}
	}
	if len(doc.Content) == 0 {
		return nil, Problems{{File: file, Reason: "empty topology: it needs name, subnet and hosts"}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, Problems{{File: file, Line: root.Line, Reason: "expected a mapping with name, subnet and hosts, got " + describe(root)}}
	}
	p.mapping(root, "", []string{"name", "subnet", "subnet6", "hosts", "agent"}, func(key string, v *yaml.Node) {
		switch key {
		case "name":
			t.Name, _ = p.str(v, key)
		case "subnet":
			t.Subnet = p.prefix(v, key)
		case "subnet6":
			t.Subnet6 = p.prefix(v, key)
		case "hosts":
			p.hosts(v)
		case "agent":
			p.agent(v)
		}
	})
	probs := append(p.probs, t.check(p.bad)...)
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
		return nil, probs
	}
	return t, nil
}

// mapping calls fn for each key of n that is in keys, reporting unknown and
// repeated keys. at is the key path of n ("" for the top).
func (p *parser) mapping(n *yaml.Node, at string, keys []string, fn func(key string, v *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if at != "" {
			key = at + "." + k.Value
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			p.add(k.Line, at, "a key must be a plain word, got "+describe(k))
			continue
		case !slices.Contains(keys, k.Value):
			p.add(k.Line, key, "unknown key; the keys here are "+strings.Join(keys, ", "))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			p.add(k.Line, key, fmt.Sprintf("already set on line %d", line))
			continue
		}
		seen[k.Value] = k.Line
		p.t.lines[key] = k.Line
		fn(key, v)
	}
}

func (p *parser) str(v *yaml.Node, key string) (string, bool) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!str" {
		return v.Value, true
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return "", false // reported as missing
	}
	reason := "expected a string, got " + describe(v)
	if v.Kind == yaml.ScalarNode {
		reason += fmt.Sprintf("; quote it (%q)", v.Value)
	}
	p.add(v.Line, key, reason)
	return "", false
}

func (p *parser) prefix(v *yaml.Node, key string) netip.Prefix {
	s, ok := p.str(v, key)
	if !ok {
		return netip.Prefix{}
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		p.add(v.Line, key, fmt.Sprintf("%q is not an address/length such as 192.0.2.0/24", s))
		return netip.Prefix{}
	}
	return pfx
}

func (p *parser) addr(v *yaml.Node, key string) netip.Addr {
	s, ok := p.str(v, key)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		reason := fmt.Sprintf("%q is not an IP address", s)
		if strings.Contains(s, "/") {
			reason += "; leave out the /length, the subnet gives it"
		}
		p.add(v.Line, key, reason)
		return netip.Addr{}
	}
	return a
}

func (p *parser) hosts(v *yaml.Node) {
	if v.Kind != yaml.SequenceNode {
		if !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			p.add(v.Line, "hosts", "expected a list of hosts, got "+describe(v))
		}
		return
	}
	p.t.Hosts = make([]Host, len(v.Content))
	for i, item := range v.Content {
		at := fmt.Sprintf("hosts[%d]", i)
		p.t.lines[at] = item.Line
		if item.Kind != yaml.MappingNode {
			p.add(item.Line, at, "expected a mapping with name and addr, got "+describe(item))
			continue
		}
		h := &p.t.Hosts[i]
		p.mapping(item, at, []string{"name", "addr", "addr6", "agent"}, func(key string, v *yaml.Node) {
			switch strings.TrimPrefix(key, at+".") {
			case "name":
				h.Name, _ = p.str(v, key)
			case "addr":
				h.Addr = p.addr(v, key)
			case "addr6":
				h.Addr6 = p.addr(v, key)
			case "agent":
				if v.Kind == yaml.ScalarNode && v.Tag == "!!bool" {
					h.Agent, _ = strconv.ParseBool(v.Value)
				} else {
					p.add(v.Line, key, fmt.Sprintf("expected true or false, got %s", describe(v)))
				}
			}
		})
	}
}

func (p *parser) agent(v *yaml.Node) {
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
	case v.Kind != yaml.MappingNode:
		p.add(v.Line, "agent", "expected a mapping of agent configuration keys, got "+describe(v))
	default:
		var m map[string]any
		if err := v.Decode(&m); err != nil {
			p.add(v.Line, "agent", "not a configuration mapping: "+strings.TrimPrefix(err.Error(), "yaml: "))
			return
		}
		var seen map[string]any
		_ = v.Decode(&seen) // a second copy, never handed out
		p.t.Agent, p.t.agentNode, p.t.agentSeen = m, v, seen
	}
}

// agentOverlay is a fresh copy of the agent map to merge into a generated
// configuration, in the file's key order when it came from one.
func (t *Topology) agentOverlay() omap {
	if t.agentNode != nil && reflect.DeepEqual(t.Agent, t.agentSeen) {
		if v, err := fromNode(t.agentNode); err == nil {
			if m, ok := v.(omap); ok {
				return m
			}
		}
	}
	m, _ := ordered(t.Agent).(omap)
	return m
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "nothing"
	case "!!int", "!!float":
		return "a number (" + n.Value + ")"
	case "!!bool":
		return "a boolean (" + n.Value + ")"
	case "!!str":
		return fmt.Sprintf("%q", n.Value)
	}
	return n.Tag + " " + n.Value
}

// check validates the topology's meaning, skipping keys in bad.
func (t *Topology) check(bad map[string]bool) Problems {
	var ps Problems
	add := func(key, reason string) {
		ps = append(ps, Problem{File: t.file, Line: t.line(key), Key: key, Reason: reason})
	}
	switch {
	case bad["name"]:
	case t.Name == "":
		add("name", "missing")
	case !ValidLabName(t.Name):
		add("name", fmt.Sprintf("%q is not a lab name: %s", t.Name, labNameRule))
	}

	subnetOK := false
	switch s := t.Subnet; {
	case bad["subnet"]:
	case !s.IsValid():
		add("subnet", "missing; use a part of 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24")
	case !s.Addr().Is4():
		add("subnet", fmt.Sprintf("%s is not IPv4; IPv6 goes in subnet6", s))
	case s != s.Masked():
		add("subnet", fmt.Sprintf("%s has host bits set; the subnet is %s", s, s.Masked()))
	case !slices.ContainsFunc(docRanges, func(r netip.Prefix) bool { return within(s, r) }):
		add("subnet", fmt.Sprintf("%s is outside the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 (RFC 5737)", s))
	case s.Bits() > 30:
		add("subnet", fmt.Sprintf("%s is too small for hosts; use /30 or shorter", s))
	default:
		subnetOK = true
	}

	subnet6OK := false
	switch s := t.Subnet6; {
	case bad["subnet6"] || !s.IsValid():
	case !s.Addr().Is6() || s.Addr().Is4In6():
		add("subnet6", fmt.Sprintf("%s is not IPv6", s))
	case s != s.Masked():
		add("subnet6", fmt.Sprintf("%s has host bits set; the subnet is %s", s, s.Masked()))
	case !within(s, docRange6):
		add("subnet6", fmt.Sprintf("%s is outside the documentation range 2001:db8::/32 (RFC 3849)", s))
	case s.Bits() > 126:
		add("subnet6", fmt.Sprintf("%s is too small for hosts; use /126 or shorter", s))
	default:
		subnet6OK = true
	}

	if len(t.Hosts) == 0 && !bad["hosts"] {
		add("hosts", "missing; a lab needs at least one host")
	}
	names := map[string]int{}
	addrs := map[netip.Addr]string{}
	macs := map[string]int{}
	for i, h := range t.Hosts {
		at := fmt.Sprintf("hosts[%d]", i)
		if bad[at] {
			continue
		}
		switch key := at + ".name"; {
		case bad[key]:
		case h.Name == "":
			add(key, "missing")
		case !hostNameRE.MatchString(h.Name):
			add(key, fmt.Sprintf("%q is not a host name: %s", h.Name, hostNameRule))
		case h.Name == switchHost:
			add(key, fmt.Sprintf("%q is taken by the switch namespace drl-<lab>-sw; choose another", h.Name))
		default:
			if j, dup := names[h.Name]; dup {
				add(key, fmt.Sprintf("%q is already the name of hosts[%d]", h.Name, j))
				break
			}
			names[h.Name] = i
			mac := HostMAC(t.Name, h.Name).String()
			if j, dup := macs[mac]; dup {
				add(key, fmt.Sprintf("its MAC %s is the same as that of hosts[%d] (a hash collision); rename one", mac, j))
			}
			macs[mac] = i
		}
		switch key := at + ".addr"; {
		case bad[key]:
		case !h.Addr.IsValid():
			add(key, "missing")
		case !h.Addr.Is4():
			add(key, fmt.Sprintf("%s is not IPv4; IPv6 goes in addr6", h.Addr))
		case !subnetOK:
		case !t.Subnet.Contains(h.Addr):
			add(key, fmt.Sprintf("%s is outside subnet %s", h.Addr, t.Subnet))
		case h.Addr == t.Subnet.Addr():
			add(key, fmt.Sprintf("%s is the network address of %s", h.Addr, t.Subnet))
		case h.Addr == lastAddr(t.Subnet):
			add(key, fmt.Sprintf("%s is the broadcast address of %s", h.Addr, t.Subnet))
		default:
			if other, dup := addrs[h.Addr]; dup {
				add(key, fmt.Sprintf("%s is already the address of %s", h.Addr, other))
			}
			addrs[h.Addr] = key
		}
		switch key := at + ".addr6"; {
		case bad[key] || !h.Addr6.IsValid():
		case !h.Addr6.Is6() || h.Addr6.Is4In6():
			add(key, fmt.Sprintf("%s is not IPv6", h.Addr6))
		case !t.Subnet6.IsValid() && !bad["subnet6"]:
			add(key, "needs subnet6")
		case !subnet6OK:
		case !t.Subnet6.Contains(h.Addr6):
			add(key, fmt.Sprintf("%s is outside subnet6 %s", h.Addr6, t.Subnet6))
		case h.Addr6 == t.Subnet6.Addr():
			add(key, fmt.Sprintf("%s is the subnet-router anycast address of %s", h.Addr6, t.Subnet6))
		default:
			if other, dup := addrs[h.Addr6]; dup {
				add(key, fmt.Sprintf("%s is already the address of %s", h.Addr6, other))
			}
			addrs[h.Addr6] = key
		}
	}
	return ps
}

// line finds where key, or the nearest enclosing key, is in the file.
func (t *Topology) line(key string) int {
	for key != "" {
		if l, ok := t.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// within reports whether p lies entirely inside r.
func within(p, r netip.Prefix) bool {
	return p.Bits() >= r.Bits() && r.Contains(p.Addr())
}

// lastAddr is the highest address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// marshal renders the topology as a file LoadTopology reads back; Up keeps
// one in the state directory so the lab can be found again by name.
func (t *Topology) marshal() ([]byte, error) {
	m := omap{{"name", t.Name}, {"subnet", t.Subnet.String()}}
	if t.Subnet6.IsValid() {
		m = append(m, kv{"subnet6", t.Subnet6.String()})
	}
	var hosts []any
	for _, h := range t.Hosts {
		hm := omap{{"name", h.Name}, {"addr", h.Addr.String()}}
		if h.Addr6.IsValid() {
			hm = append(hm, kv{"addr6", h.Addr6.String()})
		}
		hm = append(hm, kv{"agent", h.Agent})
		hosts = append(hosts, hm)
	}
	m = append(m, kv{"hosts", hosts})
	if len(t.Agent) > 0 {
		m = append(m, kv{"agent", t.agentOverlay()})
	}
	return marshal(m, "The topology of lab "+t.Name+", written by drover lab up; drover lab status and down read it.")
}

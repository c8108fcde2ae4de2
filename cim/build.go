package cim

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/droverha/drover/model"
)

// Snapshot is the CIM model of one cluster view. Build makes it; it is
// never changed afterwards, so any number of requests may read it at once.
type Snapshot struct {
	cluster string
	byClass map[string][]Instance // concrete class → instances, in build order
	byKeys  map[string][]int      // canonical keys → positions in all
	all     []Instance
	paths   []ObjectPath          // paths[i] names all[i]
	refs    map[string][]refEntry // canonical keys of a referenced instance → the associations naming it
	ids     map[string]map[string]int
}

// refEntry is one association instance that names an instance in role.
type refEntry struct {
	assoc int    // position in all
	role  string // the reference property naming the instance
}

var _ Model = (*Snapshot)(nil)

// Build maps the cluster view v to CIM instances. Every instance is named
// by names from the view (cluster, node, group, address, service, real
// server), never by positions in lists, so a path stays valid while the
// thing it names exists.
func Build(v model.View) *Snapshot {
	b := &builder{v: v, s: &Snapshot{cluster: v.Cluster, byClass: map[string][]Instance{},
		byKeys: map[string][]int{}, refs: map[string][]refEntry{}, ids: map[string]map[string]int{}}}
	b.nodes = map[string]model.Node{}
	for _, n := range v.Nodes {
		b.nodes[n.Name] = n
	}
	b.cluster()
	b.vipGroups()
	b.services()
	return b.s
}

type builder struct {
	v     model.View
	s     *Snapshot
	nodes map[string]model.Node
}

// inst fills an instance of class from name/value pairs; unnamed
// properties are NULL. A name the class does not declare is a bug in
// Build, caught by the tests that check every instance against its class.
func newInstance(class string, kv ...any) Instance {
	c, _ := classes.class(class)
	props := make([]Property, len(c.Properties))
	for i, p := range c.Properties {
		props[i].Name = p.Name
	}
	for i := 0; i+1 < len(kv); i += 2 {
		name := kv[i].(string)
		j := classes.propIndex(class, name)
		if j < 0 {
			panic(fmt.Sprintf("cim: %s has no property %s", class, name))
		}
		props[j].Value = kv[i+1]
	}
	return Instance{Class: c.Name, Properties: props}
}

func (b *builder) add(i Instance) ObjectPath {
	s := b.s
	p := s.Path(i)
	n := len(s.all)
	s.all = append(s.all, i)
	s.paths = append(s.paths, p)
	s.byClass[i.Class] = append(s.byClass[i.Class], i)
	k := canonicalKeys(p.Keys)
	s.byKeys[k] = append(s.byKeys[k], n)
	if s.ids[i.Class] == nil {
		s.ids[i.Class] = map[string]int{}
	}
	s.ids[i.Class][PathID(p)] = n
	c, _ := classes.class(i.Class)
	if c.Association {
		for _, kb := range p.Keys {
			if rp, ok := kb.Value.(ObjectPath); ok {
				rk := canonicalKeys(rp.Keys)
				s.refs[rk] = append(s.refs[rk], refEntry{assoc: n, role: kb.Name})
			}
		}
	}
	return p
}

func (b *builder) link(class string, r1 string, p1 ObjectPath, r2 string, p2 ObjectPath) {
	b.add(newInstance(class, r1, p1, r2, p2))
}

// nullString is NULL for "".
func nullString(s string) Value {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t time.Time) Value {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func nullStrings(s []string) Value {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

func reasons(r string) Value {
	if r == "" {
		return nil
	}
	return []string{r}
}

func (b *builder) clusterPath() ObjectPath {
	return ObjectPath{Namespace: Namespace, Class: "DRV_Cluster", Keys: []KeyBinding{
		{Name: "CreationClassName", Value: "DRV_Cluster"}, {Name: "Name", Value: b.v.Cluster}}}
}

func (b *builder) nodePath(name string) ObjectPath {
	return ObjectPath{Namespace: Namespace, Class: "DRV_Node", Keys: []KeyBinding{
		{Name: "CreationClassName", Value: "DRV_Node"}, {Name: "Name", Value: name}}}
}

// scoped returns the weak keys of a service or access point of the cluster.
func (b *builder) scoped(class, name string) []any {
	return []any{"SystemCreationClassName", "DRV_Cluster", "SystemName", b.v.Cluster,
		"CreationClassName", class, "Name", name}
}

func (b *builder) instanceID(kind, name string) string {
	return "Drover:" + b.v.Cluster + ":" + kind + ":" + name
}

func (b *builder) cluster() {
	v := b.v
	cp := b.add(b.clusterInstance())
	b.add(newInstance("DRV_ClusteringService", append(b.scoped("DRV_ClusteringService", "drover"),
		"ElementName", "Drover clustering service",
		"Description", "Membership, manager election and placement of cluster "+v.Cluster,
		"OperationalStatus", []uint16{serviceOp(v)}, "HealthState", serviceHealth(v),
		"EnabledState", Enabled, "RequestedState", ReqNotApplicable,
		"Started", true, "ManagerNode", nullString(v.Manager), "Epoch", v.Epoch)...))
	b.link("CIM_HostedService", "Antecedent", cp, "Dependent", b.s.paths[len(b.s.paths)-1])
	for _, n := range v.Nodes {
		np := b.add(b.nodeInstance(n))
		b.link("CIM_ParticipatingCS", "Antecedent", np, "Dependent", cp)
	}
}

func serviceOp(v model.View) uint16 {
	switch {
	case !v.Quorum.Have:
		return OpError
	case v.Manager == "":
		return OpDegraded
	}
	return OpOK
}

func serviceHealth(v model.View) uint16 {
	switch serviceOp(v) {
	case OpError:
		return HealthCritical
	case OpDegraded:
		return HealthDegraded
	}
	return HealthOK
}

func (b *builder) clusterInstance() Instance {
	v := b.v
	allAlive := true
	for _, n := range v.Nodes {
		if n.State != model.NodeAlive && n.State != model.NodeLeft {
			allAlive = false
		}
	}
	op, health, state := OpOK, HealthOK, uint16(2) // On-line
	switch {
	case !v.Quorum.Have:
		op, health, state = OpError, HealthCritical, 4 // Off-line
	case !allAlive || v.Manager == "":
		op, health, state = OpDegraded, HealthDegraded, 3 // Degraded
	}
	desc := fmt.Sprintf("quorum %d of %d voters present (%d needed)", v.Quorum.Present, v.Quorum.Voters, v.Quorum.Needed)
	if !v.Quorum.Have {
		desc = fmt.Sprintf("no quorum: %d of %d voters present (%d needed)", v.Quorum.Present, v.Quorum.Voters, v.Quorum.Needed)
	}
	return newInstance("DRV_Cluster",
		"ElementName", v.Cluster, "OperationalStatus", []uint16{op}, "StatusDescriptions", []string{desc},
		"HealthState", health, "CommunicationStatus", CommOK,
		"EnabledState", Enabled, "RequestedState", ReqNotApplicable,
		"CreationClassName", "DRV_Cluster", "Name", v.Cluster, "NameFormat", "Other",
		"Interconnect", "NATS", "InterconnectAddress", "drover."+v.Cluster,
		"Types", []uint16{2, 6}, "MaxNumberOfNodes", uint32(0), "ClusterState", state,
		"Observer", v.Observer, "ViewTime", nullTime(v.Time), "ManagerNode", nullString(v.Manager), "Epoch", v.Epoch,
		"HasQuorum", v.Quorum.Have, "VotersPresent", uint32(v.Quorum.Present), "Voters", uint32(v.Quorum.Voters),
		"VotersNeeded", uint32(v.Quorum.Needed), "DroppedMessages", v.Dropped.Total())
}

// ownsGroups reports whether node holds or was given any VIP group.
func (b *builder) ownsGroups(n model.Node) bool {
	if len(n.Held) > 0 {
		return true
	}
	for _, g := range b.v.VIPGroups {
		if g.Owner == n.Name {
			return true
		}
	}
	return false
}

// NodeEnabledState is a node's EnabledState: 2 Enabled when it may own
// VIP groups; a drained node is 9 Quiesce while it still holds groups
// (they are being handed over, or no other candidate is alive) and 6
// Enabled but Offline once it holds none; 3 Disabled after it left; 0
// Unknown when it is dead or never heard from (we cannot know).
func (b *builder) nodeEnabledState(n model.Node) uint16 {
	switch n.State {
	case model.NodeAlive, model.NodeSuspect:
		if !n.Drained {
			return Enabled
		}
		if b.ownsGroups(n) {
			return EnabledQuiesce
		}
		return EnabledButOffline
	case model.NodeLeft:
		return Disabled
	}
	return EnabledUnknown
}

func (b *builder) nodeInstance(n model.Node) Instance {
	var op, health, comm uint16
	switch n.State {
	case model.NodeAlive:
		op, health, comm = OpOK, HealthOK, CommOK
	case model.NodeSuspect:
		op, health, comm = OpDegraded, HealthDegraded, CommLost
	case model.NodeDead:
		op, health, comm = OpLostCommunication, HealthCritical, CommLost
		if n.LastHeartbeat.IsZero() {
			op, comm = OpNoContact, CommNone
		}
	case model.NodeLeft:
		op, health, comm = OpStopped, HealthUnknown, CommLost
	default:
		op, health, comm = OpUnknown, HealthUnknown, CommUnknown
	}
	req := ReqEnabled
	if n.Drained {
		req = ReqOffline
	}
	var lastHB Value
	if !n.LastHeartbeat.IsZero() {
		lastHB = n.LastHeartbeat.UTC()
	}
	return newInstance("DRV_Node",
		"ElementName", n.Name, "OperationalStatus", []uint16{op}, "StatusDescriptions", reasons(n.Reason),
		"HealthState", health, "CommunicationStatus", comm,
		"EnabledState", b.nodeEnabledState(n), "RequestedState", req, "TimeOfLastStateChange", nullTime(n.Since),
		"CreationClassName", "DRV_Node", "Name", n.Name, "NameFormat", "Other",
		"NodeState", n.State.String(), "IsManager", n.Manager, "Drained", n.Drained, "Quorum", n.Quorum,
		"LastHeartbeat", lastHB, "HeartbeatAgeMS", n.HeartbeatAgeMS, "UDPHeard", n.UDP, "BusIsolated", n.BusIsolated,
		"HeldVIPGroups", nullStrings(n.Held), "Boot", nullString(n.Boot), "AgentVersion", nullString(n.Version))
}

// members are a VIP group's candidate nodes; views from agents that do
// not report candidates give the nodes the group is known to be on.
func groupMembers(g model.VIPGroupView) []string {
	var out []string
	for _, c := range g.Candidates {
		out = append(out, c.Node)
	}
	if len(out) > 0 {
		return out
	}
	seen := map[string]bool{}
	for _, n := range append([]string{g.Owner, g.From}, g.HeldBy...) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// groupRedundancy: Fully Redundant when every candidate could take the
// group (alive, not drained), Degraded when some could besides the owner,
// Redundancy Lost when only the owner could, Overall Failure without an
// owner, Unknown when the view names no candidates.
func (b *builder) groupRedundancy(g model.VIPGroupView) uint16 {
	if g.Owner == "" {
		return RedundancyFailure
	}
	if len(g.Candidates) == 0 {
		return RedundancyUnknown
	}
	usable := 0
	for _, c := range g.Candidates {
		if n, ok := b.nodes[c.Node]; ok && n.State == model.NodeAlive && !n.Drained {
			usable++
		}
	}
	switch {
	case usable == len(g.Candidates) && usable >= 2:
		return RedundancyFull
	case usable >= 2:
		return RedundancyDegraded
	}
	return RedundancyLost
}

func (b *builder) vipGroups() {
	cp := b.clusterPath()
	for _, g := range b.v.VIPGroups {
		members := groupMembers(g)
		var cands []string
		for _, c := range g.Candidates {
			cands = append(cands, c.Node)
		}
		set := b.add(newInstance("DRV_VIPRedundancySet",
			"InstanceID", b.instanceID("vipgroup", g.Name), "ElementName", g.Name,
			"Description", "VIP group "+g.Name+": "+strings.Join(g.Addresses, ", "),
			"RedundancyStatus", b.groupRedundancy(g), "TypeOfSet", []uint16{SetSparing},
			"MinNumberNeeded", uint32(1), "MaxNumberSupported", uint32(0), "LoadBalanceAlgorithm", LBNone,
			"VIPGroup", g.Name, "Owner", nullString(g.Owner), "PreviousOwner", nullString(g.From),
			"HeldBy", nullStrings(g.HeldBy), "Candidates", nullStrings(cands), "Reason", nullString(g.Reason),
			"Since", nullTime(g.Since), "Epoch", g.Epoch))
		b.link("CIM_HostedCollection", "Antecedent", cp, "Dependent", set)
		for _, m := range members {
			if _, ok := b.nodes[m]; ok {
				b.link("CIM_MemberOfCollection", "Collection", set, "Member", b.nodePath(m))
			}
		}
		for _, a := range g.Addresses {
			vp := b.add(b.vipInstance(g, a))
			b.link("CIM_HostedAccessPoint", "Antecedent", cp, "Dependent", vp)
			b.link("DRV_VIPGroupDependency", "Antecedent", set, "Dependent", vp)
		}
	}
}

// vipName names a DRV_VIP: "<group>/<address>" (no prefix length).
func vipName(group, prefix string) string {
	if p, err := netip.ParsePrefix(prefix); err == nil {
		return group + "/" + p.Addr().String()
	}
	return group + "/" + prefix
}

func (b *builder) vipInstance(g model.VIPGroupView, prefix string) Instance {
	kv := b.scoped("DRV_VIP", vipName(g.Name, prefix))
	if p, err := netip.ParsePrefix(prefix); err == nil {
		if p.Addr().Is4() {
			mask := netip.AddrFrom4([4]byte{})
			if p.Bits() > 0 {
				m := ^uint32(0) << (32 - p.Bits())
				mask = netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
			}
			kv = append(kv, "IPv4Address", p.Addr().String(), "SubnetMask", mask.String(), "ProtocolIFType", IFTypeIPv4)
		} else {
			kv = append(kv, "IPv6Address", p.Addr().String(), "ProtocolIFType", IFTypeIPv6)
		}
	}
	held := false
	for _, h := range g.HeldBy {
		held = held || h == g.Owner
	}
	op, health, enabled := OpOK, HealthOK, Enabled
	switch {
	case g.Owner == "":
		op, health, enabled = OpError, HealthCritical, EnabledButOffline
	case g.From != "" || len(g.HeldBy) > 1:
		op = 19 // Relocating
	case !held:
		op, health = 8, HealthDegraded // Starting: given to the owner, not yet up there
	}
	return newInstance("DRV_VIP", append(kv,
		"ElementName", prefix, "OperationalStatus", []uint16{op}, "StatusDescriptions", reasons(g.Reason),
		"HealthState", health, "EnabledState", enabled, "RequestedState", ReqNotApplicable,
		"TimeOfLastStateChange", nullTime(g.Since), "NameFormat", "<VIP group>/<address>", "AddressOrigin", uint16(3),
		"Prefix", prefix, "VIPGroup", g.Name, "VirtualMAC", nullString(g.VirtualMAC),
		"Owner", nullString(g.Owner), "PreviousOwner", nullString(g.From), "HeldBy", nullStrings(g.HeldBy))...)
}

// serviceAddress splits an ipvsadm key ("TCP 192.0.2.10:80", "FWM 5").
func serviceAddress(key string) (proto string, addr netip.AddrPort, mark uint32) {
	p, rest, _ := strings.Cut(key, " ")
	if p == "FWM" {
		m, _ := strconv.ParseUint(rest, 10, 32)
		return "", netip.AddrPort{}, uint32(m)
	}
	a, _ := netip.ParseAddrPort(rest)
	return strings.ToLower(p), a, 0
}

func (b *builder) services() {
	cp := b.clusterPath()
	vips := map[netip.Addr][]ObjectPath{}
	for _, g := range b.v.VIPGroups {
		for _, a := range g.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil {
				vips[p.Addr()] = append(vips[p.Addr()], ObjectPath{Namespace: Namespace, Class: "DRV_VIP",
					Keys: keysOf("DRV_Cluster", b.v.Cluster, "DRV_VIP", vipName(g.Name, a))})
			}
		}
	}
	for _, s := range b.v.Services {
		sp := b.add(b.serviceInstance(s))
		b.link("CIM_HostedService", "Antecedent", cp, "Dependent", sp)
		_, addr, _ := serviceAddress(s.Key)
		if addr.IsValid() {
			for _, vp := range vips[addr.Addr().Unmap()] {
				b.link("CIM_ServiceAccessBySAP", "Antecedent", sp, "Dependent", vp)
			}
		}
		pool := b.add(b.poolInstance(s))
		b.link("CIM_HostedCollection", "Antecedent", cp, "Dependent", pool)
		b.link("DRV_ServicePoolDependency", "Antecedent", pool, "Dependent", sp)
		if len(s.Directors) > 0 {
			st := b.add(b.serviceStats(s))
			b.link("CIM_ElementStatisticalData", "ManagedElement", sp, "Stats", st)
		}
		dests := destCounters(s)
		for _, r := range s.RealServers {
			rp := b.add(b.realServerInstance(s, r))
			b.link("CIM_HostedAccessPoint", "Antecedent", cp, "Dependent", rp)
			b.link("CIM_MemberOfCollection", "Collection", pool, "Member", rp)
			if d, ok := dests[r.Address]; ok {
				st := b.add(b.realServerStats(s, r, d))
				b.link("CIM_ElementStatisticalData", "ManagedElement", rp, "Stats", st)
			}
		}
	}
}

func keysOf(sysClass, sys, class, name string) []KeyBinding {
	return []KeyBinding{{Name: "SystemCreationClassName", Value: sysClass}, {Name: "SystemName", Value: sys},
		{Name: "CreationClassName", Value: class}, {Name: "Name", Value: name}}
}

func (b *builder) serviceInstance(s model.ServiceView) Instance {
	proto, addr, mark := serviceAddress(s.Key)
	allUp := true
	for _, r := range s.RealServers {
		if !r.Sorry && !r.Healthy {
			allUp = false
		}
	}
	op, health := OpOK, HealthOK
	switch {
	case !s.Quorum.Have:
		op, health = OpError, HealthCritical
	case !allUp:
		op, health = OpDegraded, HealthDegraded
	}
	var address, fwm Value
	if addr.IsValid() {
		address = addr.String()
	}
	if mark != 0 {
		fwm = mark
	}
	return newInstance("DRV_VirtualService", append(b.scoped("DRV_VirtualService", s.Name),
		"Caption", s.Key, "ElementName", s.Name, "OperationalStatus", []uint16{op}, "StatusDescriptions", reasons(s.Reason),
		"HealthState", health, "EnabledState", Enabled, "RequestedState", ReqNotApplicable,
		"TimeOfLastStateChange", nullTime(s.Since), "Started", true,
		"ServiceKey", s.Key, "Protocol", nullString(proto), "Address", address, "FirewallMark", fwm,
		"Scheduler", s.Scheduler, "SchedulerFlags", nullStrings(s.Flags), "Persistence", nullString(s.Persistence),
		"HasQuorum", s.Quorum.Have, "HealthyWeight", uint32(max(s.Quorum.HealthyWeight, 0)),
		"QuorumWeight", uint32(max(s.Quorum.Needed, 0)), "RegainWeight", uint32(max(s.Quorum.RegainAt, 0)),
		"SorryActive", s.SorryActive, "Epoch", s.Epoch)...)
}

func (b *builder) poolInstance(s model.ServiceView) Instance {
	healthy, n := 0, 0
	for _, r := range s.RealServers {
		if r.Sorry {
			continue
		}
		n++
		if r.Healthy {
			healthy++
		}
	}
	status := RedundancyFull
	switch {
	case healthy == 0:
		status = RedundancyFailure
	case !s.Quorum.Have:
		status = RedundancyLost
	case healthy < n:
		status = RedundancyDegraded
	}
	alg, other := LBOther, Value(s.Scheduler)
	if s.Scheduler == "rr" {
		alg, other = LBRoundRobin, nil
	}
	return newInstance("DRV_RealServerPool",
		"InstanceID", b.instanceID("pool", s.Name), "ElementName", s.Name,
		"Description", "Real servers of "+s.Key,
		"RedundancyStatus", status, "TypeOfSet", []uint16{SetLoadBalanced},
		"MinNumberNeeded", uint32(1), "MaxNumberSupported", uint32(0),
		"LoadBalanceAlgorithm", alg, "OtherLoadBalanceAlgorithm", other,
		"VirtualService", s.Name, "HealthyMembers", uint32(healthy), "Members", uint32(n))
}

// realServerName names a DRV_RealServer: "<service>/<address:port>".
func realServerName(service, address string) string { return service + "/" + address }

// The EnabledState of a real server follows its weight in the directors'
// tables: 2 Enabled with a weight, 9 Quiesce at weight 0 (established
// connections drain, no new ones), 6 Enabled but Offline when out of the
// table.
func realServerEnabled(r model.RealServerView) uint16 {
	switch {
	case r.Applied > 0:
		return Enabled
	case r.Applied == 0:
		return EnabledQuiesce
	}
	return EnabledButOffline
}

// The RequestedState of a real server is its administrative state: 2
// Enabled, 3 Disabled, 9 Quiesce; the sorry server has none.
func realServerRequested(r model.RealServerView) uint16 {
	switch {
	case r.Sorry:
		return ReqNotApplicable
	case r.Admin == model.AdminDisabled:
		return ReqDisabled
	case r.Admin == model.AdminQuiesced:
		return ReqQuiesce
	}
	return ReqEnabled
}

func (b *builder) realServerInstance(s model.ServiceView, r model.RealServerView) Instance {
	kv := b.scoped("DRV_RealServer", realServerName(s.Name, r.Address))
	var port Value
	if ap, err := netip.ParseAddrPort(r.Address); err == nil {
		format := InfoIPv4
		if ap.Addr().Is6() && !ap.Addr().Is4In6() {
			format = InfoIPv6
		}
		kv = append(kv, "AccessInfo", ap.Addr().String(), "InfoFormat", format)
		port = ap.Port()
	}
	var op, health, comm uint16
	switch {
	case r.Sorry && s.SorryActive:
		op, health, comm = OpOK, HealthOK, CommUnknown
	case r.Sorry:
		op, health, comm = OpDormant, HealthUnknown, CommUnknown
	case !r.Known:
		op, health, comm = OpUnknown, HealthUnknown, CommUnknown
	case r.Healthy:
		op, health, comm = OpOK, HealthOK, CommOK
	default:
		op, health, comm = OpError, HealthCritical, CommLost
	}
	context := "load-balanced real server of " + s.Name
	if r.Sorry {
		context = "sorry server of " + s.Name
	}
	var probes []string
	for _, p := range r.Probes {
		st := "unknown"
		if p.Known {
			st = map[bool]string{true: "up", false: "down"}[p.Healthy]
		}
		probes = append(probes, p.Node+": "+st+": "+p.Reason)
	}
	return newInstance("DRV_RealServer", append(kv,
		"ElementName", r.Address, "OperationalStatus", []uint16{op}, "StatusDescriptions", reasons(r.Reason),
		"HealthState", health, "CommunicationStatus", comm,
		"EnabledState", realServerEnabled(r), "RequestedState", realServerRequested(r), "TimeOfLastStateChange", nullTime(r.Since),
		"AccessContext", uint16(1), "OtherAccessContext", context,
		"VirtualService", s.Name, "Address", r.Address, "Port", port, "Forward", nullString(r.Forward),
		"Weight", uint32(max(r.Weight, 0)), "AppliedWeight", int64(r.Applied), "Healthy", r.Healthy, "Known", r.Known,
		"Sorry", r.Sorry, "AgentNode", nullString(r.Node), "Probes", nullStrings(probes))...)
}

type counterSum struct {
	model.Counters
	directors        uint32
	active, inactive uint64
	at               time.Time
}

func (c *counterSum) add(x model.Counters, at time.Time) {
	c.Connections += x.Connections
	c.PacketsIn += x.PacketsIn
	c.PacketsOut += x.PacketsOut
	c.BytesIn += x.BytesIn
	c.BytesOut += x.BytesOut
	c.CPS += x.CPS
	c.PPSIn += x.PPSIn
	c.PPSOut += x.PPSOut
	c.BPSIn += x.BPSIn
	c.BPSOut += x.BPSOut
	c.directors++
	if at.After(c.at) {
		c.at = at
	}
}

func (c *counterSum) props() []any {
	return []any{"StatisticTime", nullTime(c.at), "Directors", c.directors,
		"Connections", c.Connections, "PacketsIn", c.PacketsIn, "PacketsOut", c.PacketsOut,
		"BytesIn", c.BytesIn, "BytesOut", c.BytesOut, "ConnectionsPerSecond", c.CPS,
		"PacketsInPerSecond", c.PPSIn, "PacketsOutPerSecond", c.PPSOut,
		"BytesInPerSecond", c.BPSIn, "BytesOutPerSecond", c.BPSOut}
}

func destCounters(s model.ServiceView) map[string]*counterSum {
	out := map[string]*counterSum{}
	for _, d := range s.Directors {
		for _, dc := range d.Dests {
			c := out[dc.Address]
			if c == nil {
				c = &counterSum{}
				out[dc.Address] = c
			}
			c.add(dc.Stats, d.At)
			c.active += uint64(dc.Active)
			c.inactive += uint64(dc.Inactive)
		}
	}
	return out
}

func (b *builder) serviceStats(s model.ServiceView) Instance {
	var c counterSum
	var dirs []string
	for _, d := range s.Directors {
		c.add(d.Stats, d.At)
		dirs = append(dirs, d.Node)
	}
	sort.Strings(dirs)
	return newInstance("DRV_ServiceStatistics", append([]any{"InstanceID", b.instanceID("servicestats", s.Name),
		"ElementName", s.Name, "Description", "IPVS counters of " + s.Key + " on " + strings.Join(dirs, ", ")},
		c.props()...)...)
}

func (b *builder) realServerStats(s model.ServiceView, r model.RealServerView, c *counterSum) Instance {
	return newInstance("DRV_RealServerStatistics", append([]any{
		"InstanceID", b.instanceID("realserverstats", realServerName(s.Name, r.Address)),
		"ElementName", realServerName(s.Name, r.Address),
		"ActiveConnections", c.active, "InactiveConnections", c.inactive}, c.props()...)...)
}

// Model interface.

// Classes returns every class of the model, superclasses first.
func (s *Snapshot) Classes() []Class { return Classes() }

// Class returns one class by name, case-insensitively.
func (s *Snapshot) Class(name string) (Class, bool) { return classes.class(name) }

func modelErr(code int, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// Instances returns the instances of class and its subclasses, in the
// order of Classes and then of the view.
func (s *Snapshot) Instances(class string) ([]Instance, error) {
	c, ok := classes.class(class)
	if !ok {
		return nil, modelErr(ErrInvalidClass, "no class %s in %s", class, Namespace)
	}
	var out []Instance
	for _, sub := range classList {
		if classes.isA(sub.Name, c.Name) {
			out = append(out, s.byClass[sub.Name]...)
		}
	}
	return out, nil
}

func checkModelNamespace(ns string) error {
	if ns != "" && !strings.EqualFold(ns, Namespace) {
		return modelErr(ErrInvalidNamespace, "no namespace %s (only %s)", ns, Namespace)
	}
	return nil
}

// find returns the position of the instance path names.
func (s *Snapshot) find(path ObjectPath) (int, error) {
	if err := checkModelNamespace(path.Namespace); err != nil {
		return 0, err
	}
	c, ok := classes.class(path.Class)
	if !ok {
		return 0, modelErr(ErrInvalidClass, "no class %s in %s", path.Class, Namespace)
	}
	for _, n := range s.byKeys[canonicalKeys(path.Keys)] {
		if classes.isA(s.all[n].Class, c.Name) {
			return n, nil
		}
	}
	return 0, modelErr(ErrNotFound, "no instance %s", FormatPath(path))
}

// Get returns the instance path names.
func (s *Snapshot) Get(path ObjectPath) (Instance, error) {
	n, err := s.find(path)
	if err != nil {
		return Instance{}, err
	}
	return s.all[n], nil
}

// ByID returns the instance of class (or a subclass) whose PathID is id.
func (s *Snapshot) ByID(class, id string) (Instance, error) {
	c, ok := classes.class(class)
	if !ok {
		return Instance{}, modelErr(ErrInvalidClass, "no class %s in %s", class, Namespace)
	}
	for _, sub := range classList {
		if classes.isA(sub.Name, c.Name) {
			if n, ok := s.ids[sub.Name][id]; ok {
				return s.all[n], nil
			}
		}
	}
	return Instance{}, modelErr(ErrNotFound, "no %s %q", c.Name, id)
}

func checkFilterClass(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	c, ok := classes.class(name)
	if !ok {
		return "", modelErr(ErrInvalidParameter, "no class %s in %s", name, Namespace)
	}
	return c.Name, nil
}

// References returns the associations of class resultClass that name path
// in role.
func (s *Snapshot) References(path ObjectPath, resultClass, role string) ([]Instance, error) {
	n, err := s.find(path)
	if err != nil {
		return nil, err
	}
	rc, err := checkFilterClass(resultClass)
	if err != nil {
		return nil, err
	}
	var out []Instance
	for _, r := range s.refs[canonicalKeys(s.paths[n].Keys)] {
		a := s.all[r.assoc]
		if (rc == "" || classes.isA(a.Class, rc)) && (role == "" || strings.EqualFold(role, r.role)) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Associators returns the instances associated with path.
func (s *Snapshot) Associators(path ObjectPath, assocClass, resultClass, role, resultRole string) ([]Instance, error) {
	n, err := s.find(path)
	if err != nil {
		return nil, err
	}
	ac, err := checkFilterClass(assocClass)
	if err != nil {
		return nil, err
	}
	rc, err := checkFilterClass(resultClass)
	if err != nil {
		return nil, err
	}
	var out []Instance
	seen := map[int]bool{}
	for _, r := range s.refs[canonicalKeys(s.paths[n].Keys)] {
		a := s.all[r.assoc]
		if (ac != "" && !classes.isA(a.Class, ac)) || (role != "" && !strings.EqualFold(role, r.role)) {
			continue
		}
		for _, kb := range s.paths[r.assoc].Keys {
			other, ok := kb.Value.(ObjectPath)
			if !ok || kb.Name == r.role || (resultRole != "" && !strings.EqualFold(resultRole, kb.Name)) {
				continue
			}
			m, err := s.find(other)
			if err != nil || seen[m] || (rc != "" && !classes.isA(s.all[m].Class, rc)) {
				continue
			}
			seen[m] = true
			out = append(out, s.all[m])
		}
	}
	return out, nil
}

// Path returns the object path of an instance: its class and its key
// properties in the class's order.
func (s *Snapshot) Path(i Instance) ObjectPath { return PathOf(i) }

// PathOf returns the object path of an instance of the model.
func PathOf(i Instance) ObjectPath {
	c, _ := classes.class(i.Class)
	p := ObjectPath{Namespace: Namespace, Class: c.Name}
	for _, k := range classes.keys[c.Name] {
		p.Keys = append(p.Keys, KeyBinding{Name: k, Value: i.Get(k)})
	}
	return p
}

// canonicalKeys renders keys so that equal paths render equally: key
// names case-insensitive and in name order, references recursively. The
// class is not part of it: a path may name a superclass.
func canonicalKeys(keys []KeyBinding) string {
	ks := append([]KeyBinding(nil), keys...)
	sort.Slice(ks, func(i, j int) bool { return strings.ToLower(ks[i].Name) < strings.ToLower(ks[j].Name) })
	var sb strings.Builder
	for _, k := range ks {
		sb.WriteString(strings.ToLower(k.Name))
		sb.WriteByte('=')
		switch v := k.Value.(type) {
		case ObjectPath:
			sb.WriteByte('{')
			sb.WriteString(canonicalKeys(v.Keys))
			sb.WriteByte('}')
		case string:
			sb.WriteString(strconv.Quote(v))
		default:
			fmt.Fprint(&sb, v)
		}
		sb.WriteByte(';')
	}
	return sb.String()
}

// FormatPath renders a path as CIM does (DSP0207 untyped WBEM URI form):
// root/drover:DRV_Node.CreationClassName="DRV_Node",Name="dir1".
func FormatPath(p ObjectPath) string {
	var sb strings.Builder
	if p.Namespace != "" {
		sb.WriteString(p.Namespace)
		sb.WriteByte(':')
	}
	sb.WriteString(p.Class)
	for i, k := range p.Keys {
		sb.WriteByte(".,"[min(i, 1)])
		sb.WriteString(k.Name)
		sb.WriteByte('=')
		switch v := k.Value.(type) {
		case ObjectPath:
			sb.WriteString(strconv.Quote(FormatPath(v)))
		case string:
			sb.WriteString(strconv.Quote(v))
		default:
			fmt.Fprint(&sb, v)
		}
	}
	return sb.String()
}

// PathID is the id of an instance in REST URLs (/cim/v1/{class}/{id}),
// stable because it is made of names: the instance's one distinguishing
// key — Name or InstanceID, the other keys (CreationClassName, the
// scoping DRV_Cluster) being implied — and for an association the ids of
// the two instances it links, "<Class>.<id>;<Class>.<id>". In a URL it is
// one path segment, escaped (url.PathEscape: "/" is %2F).
func PathID(p ObjectPath) string {
	var rest []KeyBinding
	for _, k := range p.Keys {
		switch k.Name {
		case "CreationClassName", "SystemCreationClassName", "SystemName":
			continue
		}
		rest = append(rest, k)
	}
	if len(rest) == 1 {
		if s, ok := rest[0].Value.(string); ok {
			return s
		}
	}
	parts := make([]string, 0, len(rest))
	for _, k := range rest {
		switch v := k.Value.(type) {
		case ObjectPath:
			parts = append(parts, v.Class+"."+PathID(v))
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", k.Name, v))
		}
	}
	return strings.Join(parts, ";")
}

package mib

import (
	"crypto/sha256"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/droverha/drover/mib/agentx"
	"github.com/droverha/drover/model"
)

// OIDs of DROVER-MIB (placeholder enterprise 99999, see the MIB).
var (
	// Root is droverMIB.
	Root = agentx.OID{1, 3, 6, 1, 4, 1, 99999}
	// NotificationsOID is droverNotifications: notification n is
	// NotificationsOID.n.
	NotificationsOID = Root.Append(0)
	// Objects is droverObjects.
	Objects = Root.Append(1)
	// Compliance is droverCompliance.
	Compliance = Root.Append(2, 1, 1)
	// SysObjectID is droverAgent, the sysObjectID of a Drover agent.
	SysObjectID = Root.Append(3, 1)
)

// Tables and groups under droverObjects.
const (
	cluster      = 1
	nodeTable    = 2
	vipGroupTbl  = 3
	vipAddrTable = 4
	vsTable      = 5
	rsTable      = 6
	checkTable   = 7
	bucketTable  = 8
	vmTable      = 9
)

// Column returns the OID of column col of table (droverObjects.table.1.col),
// or of the droverCluster scalar col when table is 1 (without the .0).
func Column(table, col uint32) agentx.OID {
	if table == cluster {
		return Objects.Append(cluster, col)
	}
	return Objects.Append(table, 1, col)
}

// NameHash is DroverNameHash of name: the first four octets of its
// SHA-256 digest, big-endian, with 0 replaced by 1.
func NameHash(name string) uint32 {
	sum := sha256.Sum256([]byte(name))
	if h := binary.BigEndian.Uint32(sum[:4]); h != 0 {
		return h
	}
	return 1
}

// TruthValue of SNMPv2-TC.
func truth(b bool) int32 {
	if b {
		return 1
	}
	return 2
}

// Build returns the tree of DROVER-MIB objects that v shows. TimeStamp
// objects count centiseconds from zero (see NewSnapshots). Counter
// discontinuity times are 0: Snapshots tracks discontinuities between
// the trees it builds.
func Build(v model.View, zero time.Time) *Tree {
	return (&builder{zero: zero}).build(v)
}

// builder accumulates the rows of one tree.
type builder struct {
	zero time.Time
	disc *discontinuities // nil: all discontinuity times are 0
	rows []agentx.VarBind
}

// stamp is a TimeStamp: sysUpTime at t, 0 for a t before sysUpTime's zero.
func (b *builder) stamp(t time.Time) uint32 {
	if t.IsZero() || !t.After(b.zero) {
		return 0
	}
	return uint32(t.Sub(b.zero) / (10 * time.Millisecond))
}

func (b *builder) str(oid agentx.OID, s string) {
	b.rows = append(b.rows, agentx.String(oid, s))
}
func (b *builder) octets(oid agentx.OID, o []byte) {
	b.rows = append(b.rows, agentx.OctetString(oid, o))
}
func (b *builder) integer(oid agentx.OID, i int32) {
	b.rows = append(b.rows, agentx.Integer(oid, i))
}
func (b *builder) gauge(oid agentx.OID, n int) {
	b.rows = append(b.rows, agentx.Gauge32(oid, uint32(max(min(n, 1<<32-1), 0))))
}
func (b *builder) counter64(oid agentx.OID, n uint64) {
	b.rows = append(b.rows, agentx.Counter64(oid, n))
}
func (b *builder) timestamp(oid agentx.OID, t time.Time) {
	b.rows = append(b.rows, agentx.TimeTicks(oid, b.stamp(t)))
}

func (b *builder) build(v model.View) *Tree {
	b.rows = make([]agentx.VarBind, 0, b.estimate(v))
	b.cluster(v)
	for _, n := range v.Nodes {
		b.node(n)
	}
	for _, g := range v.VIPGroups {
		b.vipGroup(g)
	}
	for _, s := range v.Services {
		b.service(v.Time, s)
	}
	return NewTree(b.rows)
}

// estimate is the number of rows v makes, so the slice is sized once.
func (b *builder) estimate(v model.View) int {
	n := 13 + 13*len(v.Nodes) + 9*len(v.VIPGroups)
	for _, s := range v.Services {
		n += 25 + 19*len(s.RealServers)
		for _, r := range s.RealServers {
			n += 5 * len(r.Probes)
		}
	}
	return n
}

func (b *builder) cluster(v model.View) {
	sc := func(col uint32) agentx.OID { return Objects.Append(cluster, col, 0) }
	alive, owned := 0, 0
	for _, n := range v.Nodes {
		if n.State == model.NodeAlive {
			alive++
		}
	}
	for _, g := range v.VIPGroups {
		if g.Owner != "" {
			owned++
		}
	}
	b.str(sc(1), v.Cluster)
	b.str(sc(2), v.Observer)
	b.str(sc(3), v.Manager)
	b.counter64(sc(4), v.Epoch)
	b.integer(sc(5), quorumState(v.Quorum.Have, v.Quorum.Voters > 0))
	b.gauge(sc(6), v.Quorum.Voters)
	b.gauge(sc(7), v.Quorum.Present)
	b.gauge(sc(8), v.Quorum.Needed)
	b.gauge(sc(9), len(v.Nodes))
	b.gauge(sc(10), alive)
	b.gauge(sc(11), len(v.VIPGroups))
	b.gauge(sc(12), owned)
	b.gauge(sc(13), len(v.Services))
}

// quorumState is DroverQuorumState: have(1), lost(2), unknown(3).
func quorumState(have, known bool) int32 {
	switch {
	case !known:
		return 3
	case have:
		return 1
	}
	return 2
}

// NodeStateValue is droverNodeState's value for s.
func NodeStateValue(s model.NodeState) int32 {
	if s < model.NodeUnknown || s > model.NodeLeft {
		return 1
	}
	return int32(s) + 1
}

func (b *builder) node(n model.Node) {
	idx := NameHash(n.Name)
	col := func(c uint32) agentx.OID { return Column(nodeTable, c).Append(idx) }
	b.str(col(2), n.Name)
	b.integer(col(3), NodeStateValue(n.State))
	b.integer(col(4), truth(n.Manager))
	b.integer(col(5), truth(n.Quorum))
	b.str(col(6), n.Reason)
	b.timestamp(col(7), n.Since)
	b.timestamp(col(8), n.LastHeartbeat)
	b.integer(col(9), truth(n.UDP))
	b.integer(col(10), truth(n.BusIsolated))
	b.integer(col(11), truth(n.Drained))
	b.gauge(col(12), len(n.Held))
	b.str(col(13), n.Boot)
	b.str(col(14), n.Version)
}

// vipGroupState is droverVipGroupState: unowned(1), owned(2),
// handover(3), pending(4).
func vipGroupState(g model.VIPGroupView) int32 {
	switch {
	case g.Owner == "":
		return 1
	case g.From != "":
		return 3
	case slices.Contains(g.HeldBy, g.Owner):
		return 2
	}
	return 4
}

func (b *builder) vipGroup(g model.VIPGroupView) {
	idx := NameHash(g.Name)
	col := func(c uint32) agentx.OID { return Column(vipGroupTbl, c).Append(idx) }
	b.str(col(2), g.Name)
	b.integer(col(3), vipGroupState(g))
	b.str(col(4), g.Owner)
	b.str(col(5), g.From)
	b.gauge(col(6), len(g.HeldBy))
	var mac []byte
	if hw, err := net.ParseMAC(g.VirtualMAC); err == nil {
		mac = hw
	}
	b.octets(col(7), mac)
	b.str(col(8), g.Reason)
	b.timestamp(col(9), g.Since)
	b.counter64(col(10), g.Epoch)
	for _, a := range g.Addresses {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			continue // the view carries validated prefixes
		}
		ai := inetIndex(p.Addr())
		acol := func(c uint32) agentx.OID { return Column(vipAddrTable, c).Append(idx).Append(ai...) }
		b.gauge(acol(3), p.Bits())
		b.str(acol(4), a)
	}
}

// inetIndex is an InetAddressType and InetAddress as index sub-identifiers:
// the type, the length, then one sub-identifier per octet (RFC 4001).
func inetIndex(a netip.Addr) []uint32 {
	a = a.Unmap()
	typ, raw := inetAddr(a)
	out := make([]uint32, 0, 2+len(raw))
	out = append(out, uint32(typ), uint32(len(raw)))
	for _, o := range raw {
		out = append(out, uint32(o))
	}
	return out
}

// inetAddr is a's InetAddressType (ipv4(1), ipv6(2), unknown(0)) and octets.
func inetAddr(a netip.Addr) (int32, []byte) {
	a = a.Unmap()
	switch {
	case a.Is4():
		b := a.As4()
		return 1, b[:]
	case a.Is6():
		b := a.As16()
		return 2, b[:]
	}
	return 0, nil
}

// Enumerations of the virtual service table.
var (
	protocols  = map[string]int32{"TCP": 1, "UDP": 2, "SCTP": 3, "FWM": 4}
	schedulers = map[string]int32{"rr": 2, "wrr": 3, "lc": 4, "wlc": 5, "lblc": 6, "lblcr": 7,
		"dh": 8, "sh": 9, "sed": 10, "nq": 11, "mh": 12, "fo": 13, "ovf": 14, "twos": 15}
	forwards = map[string]int32{model.ForwardNAT: 1, model.ForwardDR: 2, model.ForwardTunnel: 3}
	// adminStates is droverRsAdminState; the view leaves enabled empty.
	adminStates = map[string]int32{"": 1, model.AdminEnabled: 1, model.AdminQuiesced: 2, model.AdminDisabled: 3}
)

// serviceKey splits a key as ipvsadm prints it ("TCP 192.0.2.10:80",
// "FWM 5") into the protocol and the address or mark.
func serviceKey(key string) (proto string, ap netip.AddrPort, mark uint32) {
	proto, rest, _ := strings.Cut(key, " ")
	if proto == "FWM" {
		m, _ := strconv.ParseUint(rest, 10, 32)
		return proto, netip.AddrPort{}, uint32(m)
	}
	ap, _ = netip.ParseAddrPort(rest)
	return proto, ap, 0
}

// persistence splits "5m0s/24" into seconds and a prefix length.
func persistence(p string) (secs, prefix int) {
	d, bits, ok := strings.Cut(p, "/")
	if !ok {
		return 0, 0
	}
	t, _ := time.ParseDuration(d)
	prefix, _ = strconv.Atoi(bits)
	return int(t / time.Second), prefix
}

func (b *builder) service(now time.Time, s model.ServiceView) {
	idx := NameHash(s.Name)
	col := func(c uint32) agentx.OID { return Column(vsTable, c).Append(idx) }
	proto, ap, mark := serviceKey(s.Key)
	typ, raw := inetAddr(ap.Addr())
	b.str(col(2), s.Name)
	b.str(col(3), s.Key)
	b.integer(col(4), max(protocols[proto], 1))
	b.integer(col(5), typ)
	b.octets(col(6), raw)
	b.gauge(col(7), int(ap.Port()))
	b.gauge(col(8), int(mark))
	b.integer(col(9), max(schedulers[s.Scheduler], 1))
	secs, prefix := persistence(s.Persistence)
	b.gauge(col(10), secs)
	b.gauge(col(11), prefix)
	b.integer(col(12), quorumState(s.Quorum.Have, true))
	b.gauge(col(13), s.Quorum.HealthyWeight)
	b.gauge(col(14), s.Quorum.Needed)
	b.gauge(col(15), s.Quorum.RegainAt)
	b.integer(col(16), truth(s.SorryActive))
	b.gauge(col(17), len(s.RealServers))
	b.str(col(18), s.Reason)
	b.timestamp(col(19), s.Since)
	b.counter64(col(20), s.Epoch)
	per := map[string]model.Counters{}
	for _, d := range s.Directors {
		per[d.Node] = d.Stats
	}
	sum := sumCounters(per)
	b.counter64(col(21), sum.Connections)
	b.counter64(col(22), sum.PacketsIn)
	b.counter64(col(23), sum.PacketsOut)
	b.counter64(col(24), sum.BytesIn)
	b.counter64(col(25), sum.BytesOut)
	b.timestamp(col(26), b.disc.at("vs "+s.Name, per, now))

	dests := destsByAddress(s.Directors)
	for _, r := range s.RealServers {
		b.realServer(now, idx, s.Name, r, dests[r.Address])
	}
}

// destsByAddress gathers the directors' counters of each real server:
// address → director → counters.
func destsByAddress(ds []model.DirectorCounter) map[string]map[string]model.DestCounter {
	out := map[string]map[string]model.DestCounter{}
	for _, d := range ds {
		for _, dc := range d.Dests {
			if out[dc.Address] == nil {
				out[dc.Address] = map[string]model.DestCounter{}
			}
			out[dc.Address][d.Node] = dc
		}
	}
	return out
}

func sumCounters(per map[string]model.Counters) model.Counters {
	var s model.Counters
	for _, c := range per {
		s.Connections += c.Connections
		s.PacketsIn += c.PacketsIn
		s.PacketsOut += c.PacketsOut
		s.BytesIn += c.BytesIn
		s.BytesOut += c.BytesOut
	}
	return s
}

// rsState is droverRsState, and droverCheckResult: up or pass (1), down
// or fail (2), unknown (3).
func rsState(healthy, known bool) int32 {
	switch {
	case !known:
		return 3
	case healthy:
		return 1
	}
	return 2
}

// RealServerIndex is the index of a real server row under service vs: its
// address type, address and port. ok is false for an address that does
// not parse.
func RealServerIndex(vs uint32, address string) (agentx.OID, bool) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, false
	}
	return append(agentx.OID{vs}, append(inetIndex(ap.Addr()), uint32(ap.Port()))...), true
}

func (b *builder) realServer(now time.Time, vs uint32, svc string, r model.RealServerView, dests map[string]model.DestCounter) {
	ri, ok := RealServerIndex(vs, r.Address)
	if !ok {
		return
	}
	col := func(c uint32) agentx.OID { return Column(rsTable, c).Append(ri...) }
	b.str(col(4), r.Address)
	b.str(col(5), r.Node)
	b.integer(col(6), max(forwards[r.Forward], 1))
	b.integer(col(7), rsState(r.Healthy, r.Known))
	b.integer(col(8), truth(r.Sorry))
	b.gauge(col(9), r.Weight)
	b.gauge(col(10), max(r.Applied, 0))
	b.integer(col(11), truth(r.Applied >= 0))
	b.str(col(12), r.Reason)
	b.timestamp(col(13), r.Since)
	var active, inactive int
	per := make(map[string]model.Counters, len(dests))
	for node, d := range dests {
		active += int(d.Active)
		inactive += int(d.Inactive)
		per[node] = d.Stats
	}
	sum := sumCounters(per)
	b.gauge(col(14), active)
	b.gauge(col(15), inactive)
	b.counter64(col(16), sum.Connections)
	b.counter64(col(17), sum.PacketsIn)
	b.counter64(col(18), sum.PacketsOut)
	b.counter64(col(19), sum.BytesIn)
	b.counter64(col(20), sum.BytesOut)
	b.timestamp(col(21), b.disc.at("rs "+svc+" "+r.Address, per, now))
	b.integer(col(22), adminStates[r.Admin])

	for _, p := range r.Probes {
		ci := append(slices.Clone(ri), NameHash(p.Node))
		ccol := func(c uint32) agentx.OID { return Column(checkTable, c).Append(ci...) }
		b.str(ccol(2), p.Node)
		b.integer(ccol(3), truth(p.Self))
		b.integer(ccol(4), rsState(p.Healthy, p.Known))
		b.str(ccol(5), p.Reason)
		b.timestamp(ccol(6), p.Since)
	}
}

// discontinuities remembers, between the trees Snapshots builds, each
// row's counters per director, to tell when a sum stopped counting on
// (RFC 2578's discontinuity): a director joined or left the sum, or one
// of its counters went back (its IPVS table was recreated).
type discontinuities struct {
	rows map[string]discRow
	seen map[string]bool // rows of the current build
}

type discRow struct {
	per map[string]model.Counters
	at  time.Time
}

func newDiscontinuities() *discontinuities {
	return &discontinuities{rows: map[string]discRow{}}
}

// at records row's counters per director at now and returns the time of
// its last discontinuity (zero for none since the first sight).
func (d *discontinuities) at(row string, per map[string]model.Counters, now time.Time) time.Time {
	if d == nil {
		return time.Time{}
	}
	d.seen[row] = true
	old, ok := d.rows[row]
	if !ok {
		d.rows[row] = discRow{per: per}
		return time.Time{}
	}
	at := old.at
	if len(old.per) != len(per) {
		at = now
	}
	for node, c := range per {
		o, ok := old.per[node]
		if !ok || c.Connections < o.Connections || c.PacketsIn < o.PacketsIn || c.PacketsOut < o.PacketsOut ||
			c.BytesIn < o.BytesIn || c.BytesOut < o.BytesOut {
			at = now
		}
	}
	d.rows[row] = discRow{per: per, at: at}
	return at
}

// begin starts a build; end forgets the rows the build did not see.
func (d *discontinuities) begin() { d.seen = map[string]bool{} }
func (d *discontinuities) end() {
	for row := range d.rows {
		if !d.seen[row] {
			delete(d.rows, row)
		}
	}
}

package mib

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/droverha/drover/internal/golden"
	"github.com/droverha/drover/internal/snmptest"
	"github.com/droverha/drover/mib/agentx"
	"github.com/droverha/drover/model"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// mibObject is an OBJECT-TYPE of DROVER-MIB as its text defines it.
type mibObject struct {
	name, syntax, access string
	oid                  agentx.OID
}

// parseMIB reads every OBJECT-TYPE and OBJECT IDENTIFIER of DROVER-MIB
// with its OID, resolving the { parent n } chain from droverMIB.
func parseMIB(t *testing.T) map[string]*mibObject {
	t.Helper()
	text, err := os.ReadFile("DROVER-MIB.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Drop comments so they cannot look like definitions.
	var b strings.Builder
	for line := range strings.SplitSeq(string(text), "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line + "\n")
	}
	src := b.String()
	def := regexp.MustCompile(`(?m)^(\w+)[ \t]+(OBJECT-TYPE|OBJECT IDENTIFIER|MODULE-IDENTITY|OBJECT-IDENTITY|NOTIFICATION-TYPE|OBJECT-GROUP|NOTIFICATION-GROUP|MODULE-COMPLIANCE)`)
	assign := regexp.MustCompile(`::=\s*\{\s*(\w+)\s+(\d+)\s*\}`)
	syntax := regexp.MustCompile(`SYNTAX\s+((?:SEQUENCE OF )?[\w-]+)`)
	access := regexp.MustCompile(`MAX-ACCESS\s+([\w-]+)`)
	type raw struct {
		parent string
		n      uint32
		obj    *mibObject
	}
	defs := map[string]raw{}
	locs := def.FindAllStringSubmatchIndex(src, -1)
	for i, loc := range locs {
		end := len(src)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := src[loc[0]:end]
		name := src[loc[2]:loc[3]]
		m := assign.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("%s: no ::= { parent n }", name)
		}
		n, _ := strconv.ParseUint(m[2], 10, 32)
		o := &mibObject{name: name}
		if s := syntax.FindStringSubmatch(body); s != nil {
			o.syntax = s[1]
		}
		if a := access.FindStringSubmatch(body); a != nil {
			o.access = a[1]
		}
		defs[name] = raw{parent: m[1], n: uint32(n), obj: o}
	}
	var resolve func(string) agentx.OID
	resolve = func(name string) agentx.OID {
		if name == "enterprises" {
			return agentx.OID{1, 3, 6, 1, 4, 1}
		}
		d, ok := defs[name]
		if !ok {
			t.Fatalf("unknown parent %s", name)
		}
		return resolve(d.parent).Append(d.n)
	}
	out := map[string]*mibObject{}
	for name, d := range defs {
		d.obj.oid = resolve(name)
		out[name] = d.obj
	}
	return out
}

// wireType is the SNMP type an object of the MIB's syntax travels as.
var wireType = map[string]agentx.VarType{
	"DroverName": agentx.TypeOctetString, "DisplayString": agentx.TypeOctetString,
	"PhysAddress": agentx.TypeOctetString, "InetAddress": agentx.TypeOctetString,
	"INTEGER": agentx.TypeInteger, "TruthValue": agentx.TypeInteger,
	"InetAddressType": agentx.TypeInteger, "DroverQuorumState": agentx.TypeInteger,
	"Gauge32": agentx.TypeGauge32, "Unsigned32": agentx.TypeGauge32,
	"InetPortNumber": agentx.TypeGauge32, "InetAddressPrefixLength": agentx.TypeGauge32,
	"DroverNameHash": agentx.TypeGauge32,
	"Counter64":      agentx.TypeCounter64, "TimeStamp": agentx.TypeTimeTicks,
}

// objectOf finds the MIB object instance name belongs to.
func objectOf(objs map[string]*mibObject, name agentx.OID) *mibObject {
	n := objectLen(name)
	if n == 0 {
		return nil
	}
	for _, o := range objs {
		if o.oid.Equal(name[:n]) {
			return o
		}
	}
	return nil
}

// TestBuildMatchesMIB checks every instance Build makes against the MIB:
// the object exists, is read-only, travels as its SYNTAX says, and every
// read-only column of a table has a value in every row the table has.
func TestBuildMatchesMIB(t *testing.T) {
	objs := parseMIB(t)
	if got := objs["droverAgent"].oid; !got.Equal(SysObjectID) {
		t.Errorf("SysObjectID %v, the MIB's droverAgent is %v", SysObjectID, got)
	}
	if got := objs["droverCompliance"].oid; !got.Equal(Compliance) {
		t.Errorf("Compliance %v, the MIB says %v", Compliance, got)
	}
	tree := Build(snmptest.ThreeNodeView(), snmptest.Zero)
	rowsOf := map[string]map[string]bool{} // table entry → index suffixes
	colsOf := map[string]map[string]bool{} // table entry → columns seen
	for _, vb := range tree.Rows() {
		o := objectOf(objs, vb.Name)
		if o == nil {
			t.Errorf("%v is no object of DROVER-MIB", vb.Name)
			continue
		}
		if o.access != "read-only" {
			t.Errorf("%v: %s is %s", vb.Name, o.name, o.access)
		}
		if want, ok := wireType[o.syntax]; !ok || want != vb.Type {
			t.Errorf("%v: %s (%s) travels as %v, want %v", vb.Name, o.name, o.syntax, vb.Type, want)
		}
		n := objectLen(vb.Name)
		entry := vb.Name[:n-1].String()
		if rowsOf[entry] == nil {
			rowsOf[entry], colsOf[entry] = map[string]bool{}, map[string]bool{}
		}
		rowsOf[entry][vb.Name[n:].String()] = true
		colsOf[entry][o.name] = true
	}
	// Every read-only column of every entry that has rows has a value in
	// every row.
	for entry, rows := range rowsOf {
		for _, o := range objs {
			if o.access != "read-only" || !o.oid.HasPrefix(agentx.MustParseOID(entry)) || len(o.oid) != len(agentx.MustParseOID(entry))+1 {
				continue
			}
			if !colsOf[entry][o.name] {
				t.Errorf("%s has no %s", entry, o.name)
				continue
			}
			for idx := range rows {
				oid := o.oid.String() + "." + idx
				if vb := tree.Get(agentx.MustParseOID(oid)); vb.Type.IsException() {
					t.Errorf("%s row %s has no %s", entry, idx, o.name)
				}
			}
		}
	}
	// The fixture fills every table but buckets and VMs, which wait for
	// their features.
	for _, e := range []string{"droverNodeEntry", "droverVipGroupEntry", "droverVipAddressEntry",
		"droverVirtualServiceEntry", "droverRealServerEntry", "droverCheckEntry"} {
		if len(rowsOf[objs[e].oid.String()]) == 0 {
			t.Errorf("no rows in %s", e)
		}
	}
}

// TestBuildGolden renders the three-node fixture's tree.
func TestBuildGolden(t *testing.T) {
	tree := Build(snmptest.ThreeNodeView(), snmptest.Zero)
	var b strings.Builder
	for _, vb := range tree.Rows() {
		fmt.Fprintf(&b, "%v = %v: %s\n", vb.Name, vb.Type, formatValue(vb))
	}
	golden.Compare(t, *update, "testdata/build-3node.golden", []byte(b.String()))
}

func formatValue(vb agentx.VarBind) string {
	if o, ok := vb.Value.([]byte); ok {
		return strconv.Quote(string(o))
	}
	return fmt.Sprint(vb.Value)
}

// TestNameHash against values from Python's hashlib:
// int.from_bytes(sha256(name).digest()[:4], "big").
func TestNameHash(t *testing.T) {
	for name, want := range map[string]uint32{"dir1": 1277124965, "web": 1264474102, "web-http": 4029152373} {
		if got := NameHash(name); got != want {
			t.Errorf("NameHash(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestTreeGetAndNext(t *testing.T) {
	tree := Build(snmptest.ThreeNodeView(), snmptest.Zero)
	name := agentx.MustParseOID("1.3.6.1.4.1.99999.1.1.1.0")
	if vb := tree.Get(name); vb.Type != agentx.TypeOctetString || string(vb.Value.([]byte)) != "farm" {
		t.Errorf("clusterName.0 = %+v", vb)
	}
	if vb := tree.Get(agentx.MustParseOID("1.3.6.1.4.1.99999.1.1.1.1")); vb.Type != agentx.TypeNoSuchInstance {
		t.Errorf("clusterName.1 = %v, want noSuchInstance", vb.Type)
	}
	if vb := tree.Get(agentx.MustParseOID("1.3.6.1.4.1.99999.1.2.1.2.7")); vb.Type != agentx.TypeNoSuchInstance {
		t.Errorf("nodeName.7 = %v, want noSuchInstance", vb.Type)
	}
	if vb := tree.Get(agentx.MustParseOID("1.3.6.1.4.1.99999.1.1.99.0")); vb.Type != agentx.TypeNoSuchObject {
		t.Errorf("cluster.99.0 = %v, want noSuchObject", vb.Type)
	}
	// A walk from the root visits every row once, in order.
	r := agentx.SearchRange{Start: Root}
	n := 0
	for {
		vb := tree.GetNext(r)
		if vb.Type == agentx.TypeEndOfMibView {
			break
		}
		if n > 0 && vb.Name.Compare(r.Start) <= 0 {
			t.Fatalf("%v after %v", vb.Name, r.Start)
		}
		r.Start = vb.Name
		n++
	}
	if n != tree.Len() {
		t.Errorf("walk saw %d of %d rows", n, tree.Len())
	}
	// A bounded range ends at its end.
	vb := tree.GetNext(agentx.SearchRange{Start: Objects.Append(1), End: Objects.Append(1, 1, 1)})
	if vb.Type != agentx.TypeOctetString {
		t.Errorf("first in [cluster, clusterName.1) = %+v", vb)
	}
	vb = tree.GetNext(agentx.SearchRange{Start: name, End: Objects.Append(1, 2)})
	if vb.Type != agentx.TypeEndOfMibView {
		t.Errorf("after clusterName.0 before cluster.2 = %+v", vb)
	}
}

// TestSnapshotsPerWalk: requests close together share a tree; a request
// after a quiet spell, or past MaxAge, gets a fresh one.
func TestSnapshotsPerWalk(t *testing.T) {
	views := 0
	s := NewSnapshots(func() model.View { views++; return snmptest.ThreeNodeView() }, snmptest.Zero)
	t0 := snmptest.ViewTime
	a := s.Tree(t0)
	if b := s.Tree(t0.Add(100 * time.Millisecond)); b != a {
		t.Error("a request 100ms later got a new tree")
	}
	// Steady requests keep the tree until MaxAge.
	at := t0
	for at.Sub(t0) < s.MaxAge-time.Second {
		at = at.Add(500 * time.Millisecond)
		if s.Tree(at) != a {
			t.Fatalf("tree replaced at %v, before MaxAge", at.Sub(t0))
		}
	}
	if s.Tree(t0.Add(s.MaxAge)) == a {
		t.Error("tree kept past MaxAge")
	}
	c := s.Tree(t0.Add(s.MaxAge + 2*s.Idle))
	if c == a || views != 3 {
		t.Errorf("after a quiet spell: same tree %v, %d builds", c == a, views)
	}
}

// TestDiscontinuity: a director's counters going back, or a director
// leaving the sum, sets the discontinuity time; steady growth does not.
func TestDiscontinuity(t *testing.T) {
	v := snmptest.ThreeNodeView()
	s := NewSnapshots(func() model.View { return v }, snmptest.Zero)
	vsDisc := Column(vsTable, 26).Append(NameHash("web-http"))
	rsIdx, _ := RealServerIndex(NameHash("web-http"), "198.51.100.21:80")
	rsDisc := Column(rsTable, 21).Append(rsIdx...)
	read := func(at time.Time, oid agentx.OID) uint32 {
		v.Time = at
		return s.Tree(at).Get(oid).Value.(uint32)
	}
	t0 := snmptest.ViewTime
	if d := read(t0, vsDisc); d != 0 {
		t.Errorf("first sight: discontinuity %d", d)
	}
	// Growth: no discontinuity.
	v.Services[0].Directors[0].Stats.Connections += 10
	if d := read(t0.Add(5*time.Second), vsDisc); d != 0 {
		t.Errorf("after growth: discontinuity %d", d)
	}
	// dir2's table was recreated: its counters start again.
	v.Services[0].Directors[1].Stats = model.Counters{}
	v.Services[0].Directors[1].Dests[0].Stats = model.Counters{}
	at := t0.Add(10 * time.Second)
	want := uint32(at.Sub(snmptest.Zero) / (10 * time.Millisecond))
	if d := read(at, vsDisc); d != want {
		t.Errorf("after a reset: vs discontinuity %d, want %d", d, want)
	}
	if d := s.Tree(at).Get(rsDisc).Value.(uint32); d != want {
		t.Errorf("after a reset: rs discontinuity %d, want %d", d, want)
	}
	// dir2 leaves the sum.
	v.Services[0].Directors = v.Services[0].Directors[:1]
	at2 := t0.Add(20 * time.Second)
	if d := read(at2, vsDisc); d != uint32(at2.Sub(snmptest.Zero)/(10*time.Millisecond)) {
		t.Errorf("after a director left: discontinuity %d", d)
	}
}

// TestSnapshotsSlowBuild: a build slower than Idle does not make the next
// request of the walk build again.
func TestSnapshotsSlowBuild(t *testing.T) {
	builds := 0
	s := NewSnapshots(func() model.View {
		builds++
		time.Sleep(150 * time.Millisecond)
		return snmptest.ThreeNodeView()
	}, snmptest.Zero)
	s.Idle = 100 * time.Millisecond
	for range 3 {
		s.Tree(time.Now())
	}
	if builds != 1 {
		t.Errorf("%d builds for three back-to-back requests", builds)
	}
}

// BenchmarkBuild10k: building the tree of a view with a 10,000-row
// realServerTable (180,000 instances), what the first request after a
// quiet spell waits for.
func BenchmarkBuild10k(b *testing.B) {
	v := snmptest.LargeView(10000)
	for b.Loop() {
		Build(v, snmptest.Zero)
	}
}

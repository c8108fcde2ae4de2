package mib

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/droverha/drover/internal/golden"
	"github.com/droverha/drover/internal/snmptest"
	"github.com/droverha/drover/mib/agentx"
	"github.com/droverha/drover/model"
)

// OIDs the tests ask for, spelled out from DROVER-MIB rather than taken
// from build.go, so the tests also check that Build follows the MIB.
const (
	oidRoot        = "1.3.6.1.4.1.99999"
	oidClusterName = "1.3.6.1.4.1.99999.1.1.1.0"
	oidNodeName    = "1.3.6.1.4.1.99999.1.2.1.2"
	oidNodeState   = "1.3.6.1.4.1.99999.1.2.1.3"
	oidNodeReason  = "1.3.6.1.4.1.99999.1.2.1.6"
	oidNodeChange  = "1.3.6.1.4.1.99999.1.2.1.7"
	oidRsTable     = "1.3.6.1.4.1.99999.1.6"
	oidRsName      = "1.3.6.1.4.1.99999.1.6.1.4"
	oidNodeDown    = "1.3.6.1.4.1.99999.0.2"
	oidSysUpTime   = "1.3.6.1.2.1.1.3.0"
)

// nameIndex is DroverNameHash (see the MIB) of name, as an index.
func nameIndex(name string) string {
	sum := sha256.Sum256([]byte(name))
	h := binary.BigEndian.Uint32(sum[:4])
	return strconv.FormatUint(uint64(max(h, 1)), 10)
}

// runSubagent starts s.Run. stop cancels its context and returns what Run
// returned, or an error when it did not return within 5 s; the test's
// cleanup calls it too.
func runSubagent(t testing.TB, s *Subagent) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- s.Run(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-ch:
			return err
		case <-time.After(5 * time.Second):
			return errors.New("Run did not return within 5s of its context's end")
		}
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return stop
}

// eventually polls cond every 20 ms for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// snmpSetup is snmpd with a subagent serving view through it.
type snmpSetup struct {
	dir   string
	snmpd *snmptest.Snmpd
	sub   *Subagent
	stop  func() error
}

func startSetup(t testing.TB, view model.View, sc snmptest.SnmpdConfig, cfg SubagentConfig) *snmpSetup {
	t.Helper()
	snmptest.Need(t, "snmpd", "snmpget", "snmpwalk", "snmpbulkwalk")
	dir := t.TempDir()
	d := snmptest.StartSnmpd(t, dir, sc)
	cfg.Network, cfg.Address = "unix", d.Socket
	if cfg.View == nil {
		cfg.View = func() model.View { return view }
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	sub := NewSubagent(cfg)
	stop := runSubagent(t, sub)
	su := &snmpSetup{dir: dir, snmpd: d, sub: sub, stop: stop}
	su.waitServing(t, 10*time.Second)
	return su
}

// tool runs a net-snmp tool (snmpwalk, snmpbulkwalk, snmpget) with opts
// for oids through snmpd. The timeout is long and there are no retries: a
// retry would hide a request the subagent was slow to answer.
func (su *snmpSetup) tool(ctx context.Context, prog string, opts []string, oids ...string) (string, error) {
	argv := append([]string{prog, "-v2c", "-c", "public", "-On", "-t", "10", "-r", "0"}, opts...)
	argv = append(append(argv, su.snmpd.Addr), oids...)
	return snmptest.Tool(ctx, su.dir, argv...)
}

// get runs snmpget for oids.
func (su *snmpSetup) get(ctx context.Context, oids ...string) (string, error) {
	return su.tool(ctx, "snmpget", nil, oids...)
}

// waitServing waits until clusterName.0 reads "farm" through snmpd.
func (su *snmpSetup) waitServing(t testing.TB, d time.Duration) {
	t.Helper()
	eventually(t, d, "clusterName.0 served through snmpd", func() bool { return su.serving() })
}

func (su *snmpSetup) serving() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := su.get(ctx, oidClusterName)
	return err == nil && strings.Contains(out, `STRING: "farm"`)
}

// testLogger sends the subagent's log to the test's log when -v.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestSubagentWalk walks droverMIB through snmpd with snmpwalk (GetNext)
// and snmpbulkwalk (GetBulk): the same rows in increasing order.
func TestSubagentWalk(t *testing.T) {
	su := startSetup(t, snmptest.ThreeNodeView(), snmptest.SnmpdConfig{}, SubagentConfig{Zero: snmptest.Zero})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	walk, err := su.tool(ctx, "snmpwalk", nil, oidRoot)
	if err != nil {
		t.Fatalf("%v\n%s", err, walk)
	}
	golden.Compare(t, *update, "testdata/subagent/walk-3node.golden", []byte(walk))
	if strings.Contains(walk, "OID not increasing") {
		t.Error("snmpwalk: OID not increasing")
	}
	if want := Build(snmptest.ThreeNodeView(), snmptest.Zero).Len(); lines(walk) != want {
		t.Errorf("snmpwalk gave %d varbinds, Build %d", lines(walk), want)
	}
	for _, r := range []string{"-Cr1", "-Cr10", "-Cr60"} {
		bulk, err := su.tool(ctx, "snmpbulkwalk", []string{r}, oidRoot)
		if err != nil {
			t.Errorf("%v\n%s", err, bulk)
		}
		if bulk != walk {
			t.Errorf("snmpbulkwalk %s differs from snmpwalk:\n%s", r, bulk)
		}
	}
}

// lines counts varbinds in the output of -On tools: a value may run over
// several lines (Hex-STRING), a varbind starts with its OID.
func lines(out string) int {
	n := 0
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(l, ".1.") {
			n++
		}
	}
	return n
}

// TestSubagentGet asks snmpd for several objects at once: a scalar, a
// node's and a real server's cells, and an instance that does not exist.
func TestSubagentGet(t *testing.T) {
	su := startSetup(t, snmptest.ThreeNodeView(), snmptest.SnmpdConfig{}, SubagentConfig{Zero: snmptest.Zero})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	oids := []string{
		oidClusterName,
		oidNodeName + "." + nameIndex("dir1"),
		oidNodeReason + "." + nameIndex("web1"),
		// web-http's real server 198.51.100.22:80: ipv4(1), 4 octets, port.
		oidRsName + "." + nameIndex("web-http") + ".1.4.198.51.100.22.80",
		oidNodeName + "." + nameIndex("nobody"),
	}
	out, err := su.get(ctx, oids...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	golden.Compare(t, *update, "testdata/subagent/get-3node.golden", []byte(out))
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != len(oids) {
		t.Fatalf("%d varbinds, want %d:\n%s", len(got), len(oids), out)
	}
	for i, l := range got[:len(got)-1] {
		if strings.Contains(l, "No Such") {
			t.Errorf("%s: %s", oids[i], l)
		}
	}
	if l := got[len(got)-1]; !strings.Contains(l, "No Such Instance") {
		t.Errorf("nobody's node name: %s, want No Such Instance", l)
	}
}

// TestSubagentTimeStamps checks that TimeStamp objects count from the
// master's sysUpTime: a node that changed state at a known instant shows
// sysUpTime of that instant.
func TestSubagentTimeStamps(t *testing.T) {
	var mu sync.Mutex
	since := time.Now().Add(time.Hour) // after any zero until set below
	view := func() model.View {
		v := snmptest.ThreeNodeView()
		mu.Lock()
		v.Nodes[0].Since = since
		mu.Unlock()
		v.Time = time.Now()
		return v
	}
	su := startSetup(t, model.View{}, snmptest.SnmpdConfig{}, SubagentConfig{View: view})
	mu.Lock()
	since = time.Now() // snmpd has been up since before the subagent
	mu.Unlock()
	time.Sleep(DefaultIdle) // a fresh snapshot

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := time.Now()
	out, err := su.get(ctx, oidSysUpTime, oidNodeChange+"."+nameIndex("dir1"))
	after := time.Now()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ticks := func(l string) time.Duration {
		_, v, _ := strings.Cut(l, "Timeticks: (")
		v, _, _ = strings.Cut(v, ")")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			t.Fatalf("no Timeticks in %q", l)
		}
		return time.Duration(n) * 10 * time.Millisecond
	}
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != 2 {
		t.Fatalf("want 2 varbinds:\n%s", out)
	}
	up, change := ticks(got[0]), ticks(got[1])
	// snmpd's zero lies in [before−up−10ms, after−up]; ours, since−change,
	// should too, within a few ticks (both round down to 10 ms).
	lo, hi := before.Add(-up-30*time.Millisecond), after.Add(-up+30*time.Millisecond)
	if z := since.Add(-change); z.Before(lo) || z.After(hi) {
		t.Errorf("the subagent's zero is %s off snmpd's window [%s, %s] (sysUpTime %s, lastChange %s)",
			z.Sub(lo), lo.Format(time.StampMicro), hi.Format(time.StampMicro), up, change)
	}
}

// TestSubagentBulkwalkLarge walks a real-server table of 10000 rows (1000
// under the race detector, which makes building a tree ten times slower)
// with GetBulk through snmpd: every instance Build made, in increasing
// order, from one snapshot.
func TestSubagentBulkwalkLarge(t *testing.T) {
	rows := 10000
	if raceDetector() {
		rows = 1000
	}
	view := snmptest.LargeView(rows)
	var mu sync.Mutex
	var built []time.Time // when each snapshot read the view
	su := startSetup(t, view, snmptest.SnmpdConfig{}, SubagentConfig{Zero: snmptest.Zero, View: func() model.View {
		mu.Lock()
		built = append(built, time.Now())
		mu.Unlock()
		return view
	}})
	want := 0
	for _, vb := range Build(view, snmptest.Zero).Rows() {
		if vb.Name.HasPrefix(agentx.MustParseOID(oidRsTable)) {
			want++
		}
	}
	mu.Lock()
	builds := len(built)
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	out, err := su.tool(ctx, "snmpbulkwalk", []string{"-Cr50"}, oidRsTable)
	t.Logf("%d varbinds in %s", lines(out), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%v\n%.2000s", err, out)
	}
	if strings.Contains(out, "OID not increasing") {
		t.Error("OID not increasing")
	}
	if n := lines(out); n != want {
		t.Errorf("snmpbulkwalk gave %d varbinds, Build made %d", n, want)
	}
	var prev agentx.OID
	for l := range strings.SplitSeq(out, "\n") {
		name, _, ok := strings.Cut(l, " = ")
		if !ok || !strings.HasPrefix(l, ".1.") {
			continue
		}
		oid, err := agentx.ParseOID(name)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil && oid.Compare(prev) <= 0 {
			t.Fatalf("%s after %s", oid, prev)
		}
		prev = oid
	}
	// The walk's first request may build a fresh tree; no other should.
	mu.Lock()
	defer mu.Unlock()
	if b := len(built) - builds; b > 1 {
		var at []string
		for _, bt := range built[builds:] {
			at = append(at, bt.Sub(start).Round(time.Millisecond).String())
		}
		t.Errorf("%d snapshots built during one walk (at %s into it), want at most 1", b, strings.Join(at, ", "))
	}
}

// TestSubagentSnmpdRestart restarts snmpd under a running subagent: the
// subagent is back within 5 s of snmpd.
func TestSubagentSnmpdRestart(t *testing.T) {
	su := startSetup(t, snmptest.ThreeNodeView(), snmptest.SnmpdConfig{}, SubagentConfig{Zero: snmptest.Zero})
	su.snmpd.Stop(t)
	eventually(t, 5*time.Second, "subagent notices snmpd stopped", func() bool { return !su.sub.Stats().Connected })
	// Attempts follow at 0.1, 0.3, 0.7, 1.5, 3.1, 5.1, 7.1 s...: snmpd is
	// back just after one at the maximum backoff, the worst case.
	time.Sleep(5200 * time.Millisecond)
	su.snmpd.Start(t)
	up := time.Now()
	su.waitServing(t, 10*time.Second)
	if d := time.Since(up); d >= 5*time.Second {
		t.Errorf("served again %s after snmpd restarted, want < 5s", d)
	} else {
		t.Logf("served again %s after snmpd restarted", d.Round(time.Millisecond))
	}
	st := su.sub.Stats()
	if !st.Connected || st.Reconnects < 1 || st.Sessions < 2 {
		t.Errorf("stats %+v, want connected after a reconnect", st)
	}
	if st.LastError == "" {
		t.Error("no LastError after losing the master")
	}
}

// raceDetector reports whether the test binary was built with -race.
func raceDetector() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// nodeDown is a droverNodeDown notification for node with reason.
func nodeDown(node, reason string) Notification {
	i := nameIndex(node)
	return Notification{
		TrapOID: agentx.MustParseOID(oidNodeDown),
		VarBinds: []agentx.VarBind{
			agentx.String(agentx.MustParseOID(oidNodeName+"."+i), node),
			agentx.Integer(agentx.MustParseOID(oidNodeState+"."+i), 4),
			agentx.String(agentx.MustParseOID(oidNodeReason+"."+i), reason),
		},
	}
}

// nodeDownLines is how snmptrapd -On prints nodeDown's own varbinds.
func nodeDownLines(node, reason string) []string {
	i := nameIndex(node)
	return []string{
		fmt.Sprintf(".%s.%s = STRING: %q", oidNodeName, i, node),
		fmt.Sprintf(".%s.%s = INTEGER: 4", oidNodeState, i),
		fmt.Sprintf(".%s.%s = STRING: %q", oidNodeReason, i, reason),
	}
}

// checkTrap waits for the next droverNodeDown and compares it with want.
func checkTrap(t *testing.T, td *snmptest.Trapd, node, reason string) {
	t.Helper()
	tr, ok := td.Wait(t, oidNodeDown, 10*time.Second)
	if !ok {
		t.Fatalf("no droverNodeDown for %s (%s) within 10s:\n%s", node, reason, td.Log())
	}
	if len(tr.VarBinds) != 5 {
		t.Fatalf("trap varbinds %q, want 5", tr.VarBinds)
	}
	if !strings.HasPrefix(tr.VarBinds[0], "."+oidSysUpTime+" = Timeticks: (") {
		t.Errorf("first varbind %q, want sysUpTime.0", tr.VarBinds[0])
	}
	want := nodeDownLines(node, reason)
	for i, w := range want {
		if tr.VarBinds[2+i] != w {
			t.Errorf("varbind %d: %q, want %q", 2+i, tr.VarBinds[2+i], w)
		}
	}
}

// TestSubagentNotify sends notifications through snmpd to snmptrapd,
// also ones queued while snmpd was down; beyond QueueLen the oldest are
// dropped and counted.
func TestSubagentNotify(t *testing.T) {
	snmptest.Need(t, "snmptrapd")
	td := snmptest.StartTrapd(t, t.TempDir(), snmptest.TrapdConfig{Community: "public"})
	su := startSetup(t, snmptest.ThreeNodeView(), snmptest.SnmpdConfig{TrapSinks: []string{td.Addr}},
		SubagentConfig{Zero: snmptest.Zero, QueueLen: 2})

	su.sub.Notify(nodeDown("web1", "no heartbeat for 700ms"))
	checkTrap(t, td, "web1", "no heartbeat for 700ms")

	down := func() {
		t.Helper()
		su.snmpd.Stop(t)
		eventually(t, 5*time.Second, "subagent notices snmpd stopped", func() bool { return !su.sub.Stats().Connected })
	}

	// Within QueueLen: all delivered, in order, once snmpd is back.
	down()
	su.sub.Notify(nodeDown("dir2", "queued 1"))
	su.sub.Notify(nodeDown("dir2", "queued 2"))
	su.snmpd.Start(t)
	checkTrap(t, td, "dir2", "queued 1")
	checkTrap(t, td, "dir2", "queued 2")
	if st := su.sub.Stats(); st.NotificationsSent != 3 || st.NotificationsDropped != 0 {
		t.Errorf("stats %+v, want 3 sent, none dropped", st)
	}

	// Beyond it: the oldest goes.
	down()
	su.sub.Notify(nodeDown("dir2", "dropped"))
	su.sub.Notify(nodeDown("dir2", "kept 1"))
	su.sub.Notify(nodeDown("dir2", "kept 2"))
	if st := su.sub.Stats(); st.NotificationsDropped != 1 {
		t.Errorf("dropped %d, want 1", st.NotificationsDropped)
	}
	su.snmpd.Start(t)
	checkTrap(t, td, "dir2", "kept 1")
	checkTrap(t, td, "dir2", "kept 2")
	if st := su.sub.Stats(); st.NotificationsSent != 5 || st.NotificationsDropped != 1 {
		t.Errorf("stats %+v, want 5 sent, 1 dropped", st)
	}
}

// fakeMaster is an AgentX master that answers Open, Register and
// AddAgentCaps, then does what the test says: the point is to send what
// snmpd would not.
type fakeMaster struct {
	t  testing.TB
	ln net.Listener
	// network and addr are where it listens.
	network, addr string
	// conns receives each accepted connection once the subagent is
	// registered on it.
	conns chan *fakeConn
	// upTime is the sysUpTime the master answers Open with.
	upTime uint32
	wg     sync.WaitGroup
}

type fakeConn struct {
	net.Conn
	r       *bufio.Reader
	session uint32
	opened  time.Time // when the Open was answered
}

// startFakeMaster listens on a unix socket in the test's directory, or
// on a loopback TCP port when network is "tcp".
func startFakeMaster(t testing.TB, network string, upTime uint32) *fakeMaster {
	t.Helper()
	addr := filepath.Join(t.TempDir(), "master.sock")
	if network == "tcp" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMaster{t: t, ln: ln, network: network, addr: ln.Addr().String(), conns: make(chan *fakeConn, 16), upTime: upTime}
	m.wg.Go(m.accept)
	t.Cleanup(func() {
		ln.Close()
		m.wg.Wait()
	})
	return m
}

func (m *fakeMaster) accept() {
	for id := uint32(1); ; id++ {
		c, err := m.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{Conn: c, r: bufio.NewReader(c), session: id}
		if err := fc.handshake(m.upTime); err != nil {
			m.t.Errorf("fake master, connection %d: %v", id, err)
			c.Close()
			continue
		}
		m.conns <- fc
	}
}

// handshake answers Open, Register and AddAgentCaps.
func (c *fakeConn) handshake(upTime uint32) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	for _, want := range []agentx.Type{agentx.TypeOpen, agentx.TypeRegister, agentx.TypeAddAgentCaps} {
		p, err := c.read()
		if err != nil {
			return err
		}
		h := p.PDUHeader()
		if h.Type != want {
			return fmt.Errorf("got %s, want %s", h.Type, want)
		}
		if open, ok := p.(*agentx.Open); ok && !open.ID.Equal(SysObjectID) {
			return fmt.Errorf("open with id %s, want %s", open.ID, SysObjectID)
		}
		if reg, ok := p.(*agentx.Register); ok && (!reg.Subtree.Equal(Root) || reg.Priority != agentx.DefaultPriority) {
			return fmt.Errorf("registered %s priority %d", reg.Subtree, reg.Priority)
		}
		if caps, ok := p.(*agentx.AddAgentCaps); ok && !caps.ID.Equal(Compliance) {
			return fmt.Errorf("agent caps %s, want %s", caps.ID, Compliance)
		}
		r := &agentx.Response{SysUpTime: upTime}
		r.Header = agentx.Header{SessionID: c.session, TransactionID: h.TransactionID, PacketID: h.PacketID}
		if h.Type == agentx.TypeOpen {
			c.opened = time.Now()
		}
		if err := c.write(r); err != nil {
			return err
		}
	}
	return nil
}

func (c *fakeConn) read() (agentx.PDU, error) { return agentx.ReadPDU(c.r, 1<<20) }

func (c *fakeConn) write(p agentx.PDU) error {
	b, err := agentx.MarshalPDU(p)
	if err != nil {
		return err
	}
	_, err = c.Write(b)
	return err
}

// next returns the next registered connection, failing after d.
func (m *fakeMaster) next(d time.Duration) *fakeConn {
	m.t.Helper()
	select {
	case c := <-m.conns:
		m.t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(d):
		m.t.Fatalf("no subagent registered with the fake master within %s", d)
		return nil
	}
}

// TestSubagentZeroFromMaster: TimeStamps count from the sysUpTime the
// master answers Open with (here over TCP).
func TestSubagentZeroFromMaster(t *testing.T) {
	m := startFakeMaster(t, "tcp", 123456) // 20m34.56s
	s := NewSubagent(SubagentConfig{Network: m.network, Address: m.addr, View: snmptest.ThreeNodeView, Logger: testLogger(t)})
	runSubagent(t, s)
	c := m.next(10 * time.Second)
	want := c.opened.Add(-1234560 * time.Millisecond)
	if d := s.currentSnapshots().Zero().Sub(want); d.Abs() > 100*time.Millisecond {
		t.Errorf("zero is %s off the master's", d)
	}
}

// TestSubagentMalformedMaster: a PDU that cannot be decoded but is still
// framed is answered with parseError and the session goes on; bytes that
// cannot be framed end that session only, and the subagent opens another.
func TestSubagentMalformedMaster(t *testing.T) {
	m := startFakeMaster(t, "unix", 100)
	s := NewSubagent(SubagentConfig{Network: m.network, Address: m.addr, View: snmptest.ThreeNodeView, Logger: testLogger(t)})
	runSubagent(t, s)
	c := m.next(10 * time.Second)
	c.SetDeadline(time.Now().Add(10 * time.Second))

	// A Get whose payload is three bytes: framed, not decodable.
	bad := []byte{agentx.Version, byte(agentx.TypeGet), 0x10, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 3, 1, 2, 3}
	binary.BigEndian.PutUint32(bad[4:], c.session)
	if _, err := c.Write(bad); err != nil {
		t.Fatal(err)
	}
	p, err := c.read()
	if r, ok := p.(*agentx.Response); err != nil || !ok || r.Error != agentx.ParseError || r.PacketID != 9 {
		t.Fatalf("answer to a malformed Get: %#v, %v; want parseError for packet 9", p, err)
	}
	// Still serving.
	get := &agentx.Get{Ranges: []agentx.SearchRange{{Start: agentx.MustParseOID(oidClusterName)}}}
	get.Header = agentx.Header{SessionID: c.session, TransactionID: 10, PacketID: 10}
	if err := c.write(get); err != nil {
		t.Fatal(err)
	}
	p, err = c.read()
	if r, ok := p.(*agentx.Response); err != nil || !ok || len(r.VarBinds) != 1 || r.VarBinds[0].Type != agentx.TypeOctetString {
		t.Fatalf("answer to Get clusterName.0: %#v, %v", p, err)
	}

	// Version 255, a length of 4 GiB: no way to find the next PDU.
	if _, err := c.Write([]byte(strings.Repeat("\xff", 24))); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Errorf("subagent did not close the connection: %v", err)
	}
	m.next(10 * time.Second)
	eventually(t, 5*time.Second, "subagent reconnected", func() bool {
		st := s.Stats()
		return st.Connected && st.Reconnects == 1
	})
	if st := s.Stats(); !strings.Contains(st.LastError, "malformed") {
		t.Errorf("LastError %q, want the malformed PDU", st.LastError)
	}
}

// TestSubagentNotifyNotOpen: a master that answers a notification with
// notOpen has lost the session; the subagent opens another and sends the
// notification there.
func TestSubagentNotifyNotOpen(t *testing.T) {
	m := startFakeMaster(t, "unix", 100)
	s := NewSubagent(SubagentConfig{Network: m.network, Address: m.addr, View: snmptest.ThreeNodeView, Logger: testLogger(t)})
	runSubagent(t, s)
	c := m.next(10 * time.Second)
	s.Notify(nodeDown("web1", "lost session"))

	c.SetDeadline(time.Now().Add(10 * time.Second))
	p, err := c.read()
	if _, ok := p.(*agentx.Notify); err != nil || !ok {
		t.Fatalf("got %#v, %v; want Notify", p, err)
	}
	r := &agentx.Response{Error: agentx.NotOpen}
	r.Header = agentx.Header{SessionID: c.session, TransactionID: p.PDUHeader().TransactionID, PacketID: p.PDUHeader().PacketID}
	if err := c.write(r); err != nil {
		t.Fatal(err)
	}

	c2 := m.next(10 * time.Second)
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	p, err = c2.read()
	n, ok := p.(*agentx.Notify)
	if err != nil || !ok || len(n.VarBinds) != 5 || n.SessionID != c2.session {
		t.Fatalf("got %#v, %v; want the Notify again on session %d", p, err, c2.session)
	}
	if got := string(n.VarBinds[4].Value.([]byte)); got != "lost session" {
		t.Errorf("reason %q", got)
	}
	if st := s.Stats(); st.NotificationsDropped != 0 || st.Reconnects != 1 {
		t.Errorf("stats %+v, want a reconnect and nothing dropped", st)
	}
}

// TestSubagentStopsOnCancel: Run closes the session (reason shutdown),
// closes the socket and returns once ctx ends, leaving no goroutine.
func TestSubagentStopsOnCancel(t *testing.T) {
	m := startFakeMaster(t, "unix", 100)
	before := runtime.NumGoroutine()
	s := NewSubagent(SubagentConfig{Network: m.network, Address: m.addr, View: snmptest.ThreeNodeView, Logger: testLogger(t)})
	stop := runSubagent(t, s)
	c := m.next(10 * time.Second)
	s.Notify(nodeDown("web1", "queued at shutdown"))

	// The queued notification arrives; answer it, then expect Close.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	p, err := c.read()
	n, ok := p.(*agentx.Notify)
	if err != nil || !ok || len(n.VarBinds) != 5 || !n.VarBinds[1].Value.(agentx.OID).Equal(agentx.MustParseOID(oidNodeDown)) {
		t.Fatalf("got %#v, %v; want the droverNodeDown Notify", p, err)
	}
	r := &agentx.Response{}
	r.Header = agentx.Header{SessionID: c.session, TransactionID: n.TransactionID, PacketID: n.PacketID}
	if err := c.write(r); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "notification counted", func() bool { return s.Stats().NotificationsSent == 1 })

	done := make(chan error, 1)
	go func() { done <- stop() }()
	p, err = c.read()
	if cl, ok := p.(*agentx.Close); err != nil || !ok || cl.Reason != agentx.ReasonShutdown {
		t.Fatalf("got %#v, %v; want Close(shutdown)", p, err)
	}
	r = &agentx.Response{}
	r.Header = agentx.Header{SessionID: c.session, TransactionID: p.PDUHeader().TransactionID, PacketID: p.PDUHeader().PacketID}
	c.write(r)
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Errorf("socket not closed: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if s.Stats().Connected {
		t.Error("still connected")
	}
	c.Close()
	eventually(t, 5*time.Second, "goroutines back to their number before Run", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// TestSubagentNoMaster: with no master at all, Run keeps trying quietly,
// Notify never blocks, and Run still returns on cancel.
func TestSubagentNoMaster(t *testing.T) {
	s := NewSubagent(SubagentConfig{Network: "unix", Address: filepath.Join(t.TempDir(), "none.sock"),
		View: snmptest.ThreeNodeView, QueueLen: 4, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	runSubagent(t, s)
	for i := range 100 {
		s.Notify(nodeDown("web1", strconv.Itoa(i)))
	}
	eventually(t, 5*time.Second, "failures recorded", func() bool { return s.Stats().LastError != "" })
	if st := s.Stats(); st.Connected || st.Sessions != 0 || st.NotificationsDropped != 96 || !strings.Contains(st.LastError, "connecting") {
		t.Errorf("stats %+v, want 96 dropped, never connected", st)
	}
}

// BenchmarkSubagentBulkwalk10k walks a 10000-row real-server table with
// snmpbulkwalk through snmpd and reports varbinds per second.
func BenchmarkSubagentBulkwalk10k(b *testing.B) {
	view := snmptest.LargeView(10000)
	su := startSetup(b, view, snmptest.SnmpdConfig{}, SubagentConfig{Zero: snmptest.Zero})
	ctx := context.Background()
	var n int
	for b.Loop() {
		out, err := su.tool(ctx, "snmpbulkwalk", []string{"-Cr" + benchRepetitions}, oidRsTable)
		if err != nil {
			b.Fatalf("%v\n%.2000s", err, out)
		}
		n += lines(out)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "varbinds/s")
}

// benchRepetitions is snmpbulkwalk's max-repetitions in the benchmark:
// the best under 100 on a 2-core machine (10: 21k varbinds/s, 25: 26k,
// 50: 30k, 75: 32k, 99: 31k). snmpd asks the subagent one AgentX
// GetNext per varbind whatever the repetitions, so they only save UDP
// round trips.
const benchRepetitions = "75"

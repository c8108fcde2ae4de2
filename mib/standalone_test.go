package mib

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosnmp/gosnmp"

	"github.com/droverha/drover/internal/golden"
	"github.com/droverha/drover/internal/snmptest"
	"github.com/droverha/drover/mib/agentx"
	"github.com/droverha/drover/model"
)

// Credentials of the test agent.
const (
	testCommunity = "public"
	testUser      = "drover"
	testUser256   = "drover256"
	testAuthPass  = "auth-pass-1"
	testPrivPass  = "priv-pass-1"
	testEngineID  = "farm/dir1"
)

// testConfig serves ThreeNodeView on a random loopback port with one
// community and two users: SHA/AES and SHA-256/AES-256.
func testConfig() StandaloneConfig {
	return StandaloneConfig{
		Listen:      "127.0.0.1:0",
		Communities: []string{testCommunity},
		Users: []USMUser{
			{Name: testUser, AuthProtocol: "SHA", AuthPassphrase: testAuthPass, PrivProtocol: "AES", PrivPassphrase: testPrivPass},
			{Name: testUser256, AuthProtocol: "SHA-256", AuthPassphrase: testAuthPass, PrivProtocol: "AES-256", PrivPassphrase: testPrivPass},
		},
		EngineID:    testEngineID,
		View:        snmptest.ThreeNodeView,
		Zero:        snmptest.Zero,
		SysName:     "dir1",
		SysDescr:    "Drover cluster agent (test)",
		SysContact:  "ops@example.org",
		SysLocation: "rack 7",
	}
}

// startStandalone runs an agent for c until the test ends; before runs
// before Run.
func startStandalone(t testing.TB, c StandaloneConfig, before ...func(*Standalone)) *Standalone {
	t.Helper()
	a, err := NewStandalone(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range before {
		f(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return within 5s of its context ending")
		}
	})
	return a
}

// tool runs a net-snmp tool against the agent, with a 20 s bound.
func tool(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return snmptest.Tool(ctx, dir, args...)
}

func v2cArgs(prog string, a *Standalone, community string) []string {
	return []string{prog, "-v2c", "-c", community, "-On", "-t", "2", "-r", "1", a.Addr().String()}
}

func v3Args(prog string, a *Standalone, user, auth, authPass, priv, privPass string) []string {
	return []string{prog, "-v3", "-l", "authPriv", "-u", user, "-a", auth, "-A", authPass, "-x", priv, "-X", privPass,
		"-On", "-t", "2", "-r", "1", a.Addr().String()}
}

func goldenPath(name string) string { return filepath.Join("testdata", "standalone", name) }

// TestStandaloneWalkV2c walks DROVER-MIB with snmpwalk and snmpbulkwalk
// (the same lines, in strictly increasing order: the tools fail on "OID
// not increasing"), then the system group and the whole view.
func TestStandaloneWalkV2c(t *testing.T) {
	snmptest.Need(t, "snmpwalk", "snmpbulkwalk")
	dir := t.TempDir()
	a := startStandalone(t, testConfig())

	walk, err := tool(t, dir, append(v2cArgs("snmpwalk", a, testCommunity), "1.3.6.1.4.1.99999")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, walk)
	}
	golden.Compare(t, *update, goldenPath("walk-v2c.golden"), []byte(walk))
	if want := Build(snmptest.ThreeNodeView(), snmptest.Zero).Len(); strings.Count(walk, "\n") != want {
		t.Errorf("snmpwalk: %d lines, the tree has %d instances", strings.Count(walk, "\n"), want)
	}
	bulk, err := tool(t, dir, append(v2cArgs("snmpbulkwalk", a, testCommunity), "1.3.6.1.4.1.99999")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, bulk)
	}
	if diff := cmp.Diff(walk, bulk); diff != "" {
		t.Errorf("snmpbulkwalk differs from snmpwalk (-walk +bulkwalk):\n%s", diff)
	}

	sys, err := tool(t, dir, append(v2cArgs("snmpwalk", a, testCommunity), "1.3.6.1.2.1.1")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, sys)
	}
	// sysUpTime moves.
	sys = regexp.MustCompile(`Timeticks: \(\d+\) [^\n]*`).ReplaceAllString(sys, "Timeticks: (*)")
	golden.Compare(t, *update, goldenPath("walk-system.golden"), []byte(sys))

	// Everything: the system group, DROVER-MIB, snmpEngine and usmStats,
	// merged in OID order.
	all, err := tool(t, dir, append(v2cArgs("snmpbulkwalk", a, testCommunity), ".1")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, all)
	}
	// net-snmp shows the endOfMibView that ends a walk of everything.
	all = strings.TrimSuffix(all, ".1.3.6.1.6.3.15.1.1.6.0 = No more variables left in this MIB View (It is past the end of the MIB tree)\n")
	lines := strings.Split(strings.TrimSpace(all), "\n")
	if !strings.HasPrefix(lines[0], ".1.3.6.1.2.1.1.1.0 = STRING:") ||
		!strings.HasPrefix(lines[len(lines)-1], ".1.3.6.1.6.3.15.1.1.6.0 = Counter32:") {
		t.Errorf("walk of everything runs from %q to %q, want sysDescr.0 to usmStatsDecryptionErrors.0", lines[0], lines[len(lines)-1])
	}
	if !strings.Contains(all, walk) || !strings.Contains(all, ".1.3.6.1.6.3.10.2.1.1.0 = Hex-STRING: 80 01 86 9F 04 66 61 72 6D 2F 64 69 72 31") {
		t.Errorf("walk of everything lacks DROVER-MIB or snmpEngineID:\n%s", all)
	}
	checkIncreasing(t, all)
}

// checkIncreasing fails t unless the OIDs of walk output lines increase
// strictly.
func checkIncreasing(t *testing.T, out string) int {
	t.Helper()
	var prev agentx.OID
	n := 0
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		name, _, ok := strings.Cut(line, " = ")
		if !ok {
			t.Fatalf("line %q", line)
		}
		oid := agentx.MustParseOID(name)
		if prev != nil && oid.Compare(prev) <= 0 {
			t.Fatalf("%s after %s", oid, prev)
		}
		prev = oid
		n++
	}
	return n
}

// TestStandaloneWalkV3 walks with SNMPv3 authPriv, SHA and AES-128 then
// SHA-256 and AES-256: the same objects as SNMPv2c.
func TestStandaloneWalkV3(t *testing.T) {
	snmptest.Need(t, "snmpwalk", "snmpbulkwalk")
	dir := t.TempDir()
	a := startStandalone(t, testConfig())
	want, err := os.ReadFile(goldenPath("walk-v2c.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ prog, user, auth, priv string }{
		{"snmpwalk", testUser, "SHA", "AES"},
		{"snmpbulkwalk", testUser, "SHA", "AES"},
		{"snmpwalk", testUser256, "SHA-256", "AES-256"},
	} {
		t.Run(c.prog+"-"+c.auth+"-"+c.priv, func(t *testing.T) {
			out, err := tool(t, dir, append(v3Args(c.prog, a, c.user, c.auth, testAuthPass, c.priv, testPrivPass), "1.3.6.1.4.1.99999")...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if diff := cmp.Diff(string(want), out); diff != "" {
				t.Errorf("SNMPv3 walk differs from the SNMPv2c one (-v2c +v3):\n%s", diff)
			}
		})
	}
	if s := a.Stats(); s.WrongDigests+s.DecryptionErrors+s.UnknownUserNames+s.NotInTimeWindows != 0 {
		t.Errorf("stats %+v, want no USM errors", s)
	}
}

// TestStandaloneRefuses sends requests the agent must not answer with its
// data: a wrong community gets no answer at all; wrong SNMPv3
// credentials and security levels below authPriv get a Report, which the
// tool shows as an error.
func TestStandaloneRefuses(t *testing.T) {
	snmptest.Need(t, "snmpget")
	dir := t.TempDir()
	a := startStandalone(t, testConfig())
	get := func(args []string) (string, error) {
		args = append(args, "1.3.6.1.4.1.99999.1.1.1.0", "1.3.6.1.2.1.1.5.0")
		// One try, one second: a refusal shows at once or never.
		for i, s := range args {
			if s == "-t" {
				args[i+1] = "1"
			}
			if s == "-r" {
				args[i+1] = "0"
			}
		}
		return tool(t, dir, args...)
	}
	level := func(l string, args []string) []string {
		for i, s := range args {
			if s == "-l" {
				args[i+1] = l
			}
		}
		return args
	}
	for _, c := range []struct {
		name   string
		args   []string
		errMsg string
		stat   func(StandaloneStats) uint64
	}{
		{"wrong community", v2cArgs("snmpget", a, "private"), "Timeout",
			func(s StandaloneStats) uint64 { return s.BadCommunity }},
		{"wrong auth passphrase", v3Args("snmpget", a, testUser, "SHA", "not-the-auth-pass", "AES", testPrivPass), "Authentication failure",
			func(s StandaloneStats) uint64 { return s.WrongDigests }},
		{"wrong auth protocol", v3Args("snmpget", a, testUser, "SHA-256", testAuthPass, "AES", testPrivPass), "Authentication failure",
			func(s StandaloneStats) uint64 { return s.WrongDigests }},
		{"wrong priv passphrase", v3Args("snmpget", a, testUser, "SHA", testAuthPass, "AES", "not-the-priv-pass"), "Decryption error",
			func(s StandaloneStats) uint64 { return s.DecryptionErrors }},
		{"unknown user", v3Args("snmpget", a, "mallory", "SHA", testAuthPass, "AES", testPrivPass), "Unknown user name",
			func(s StandaloneStats) uint64 { return s.UnknownUserNames }},
		{"noAuthNoPriv", level("noAuthNoPriv", v3Args("snmpget", a, testUser, "SHA", testAuthPass, "AES", testPrivPass)), "Unsupported security level",
			func(s StandaloneStats) uint64 { return s.UnsupportedSecLevels }},
		{"authNoPriv", level("authNoPriv", v3Args("snmpget", a, testUser, "SHA", testAuthPass, "AES", testPrivPass)), "Unsupported security level",
			func(s StandaloneStats) uint64 { return s.UnsupportedSecLevels }},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := c.stat(a.Stats())
			out, err := get(c.args)
			if err == nil {
				t.Fatalf("answered:\n%s", out)
			}
			if strings.Contains(out+err.Error(), "farm") || strings.Contains(out+err.Error(), "dir1") {
				t.Errorf("the refusal shows the agent's data: %v\n%s", err, out)
			}
			if !strings.Contains(err.Error(), c.errMsg) {
				t.Errorf("error %q, want it to say %q", err, c.errMsg)
			}
			if got := c.stat(a.Stats()); got <= before {
				t.Errorf("counter still %d", got)
			}
		})
	}
	if s := a.Stats(); s.Requests != 0 {
		t.Errorf("%d requests answered, want 0", s.Requests)
	}
}

// TestStandaloneTimeWindow gives snmpget the engine ID and a stale boots
// count, so it skips discovery: the agent answers with an authenticated
// notInTimeWindows Report carrying its boots and time, and snmpget
// retries within the window.
func TestStandaloneTimeWindow(t *testing.T) {
	snmptest.Need(t, "snmpget")
	dir := t.TempDir()
	a := startStandalone(t, testConfig())
	args := v3Args("snmpget", a, testUser, "SHA", testAuthPass, "AES", testPrivPass)
	args = append(args, "-e", fmt.Sprintf("0x%x", a.EngineID()), "-Z", "9,5000", "1.3.6.1.2.1.1.5.0")
	out, err := tool(t, dir, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := ".1.3.6.1.2.1.1.5.0 = STRING: \"dir1\"\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if s := a.Stats(); s.NotInTimeWindows != 1 || s.UnknownEngineIDs != 0 {
		t.Errorf("stats %+v, want one notInTimeWindows and no discovery", s)
	}
}

// TestStandaloneGet reads scalars, a table cell and instances that do not
// exist with one snmpget, over SNMPv2c and SNMPv3.
func TestStandaloneGet(t *testing.T) {
	snmptest.Need(t, "snmpget")
	dir := t.TempDir()
	a := startStandalone(t, testConfig())
	oids := []string{
		"1.3.6.1.2.1.1.5.0",                    // sysName.0
		"1.3.6.1.2.1.1.2.0",                    // sysObjectID.0
		"1.3.6.1.4.1.99999.1.1.1.0",            // droverClusterName.0
		"1.3.6.1.4.1.99999.1.1.1.1",            // no such instance
		"1.3.6.1.4.1.99999.1.2.1.2.1277124965", // droverNodeName of dir1
		"1.3.6.1.4.1.99999.1.2.1.2.7",          // no such row
		"1.3.6.1.4.1.99999.1.77.0",             // no such object
		"1.3.6.1.2.1.1.5.1",                    // sysName.1: no such instance
		"1.3.6.1.2.1.2.1.0",                    // ifNumber: not served
		"1.3.6.1.6.3.10.2.1.2.0",               // snmpEngineBoots.0
	}
	out, err := tool(t, dir, append(v2cArgs("snmpget", a, testCommunity), oids...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	golden.Compare(t, *update, goldenPath("get.golden"), []byte(out))
	v3, err := tool(t, dir, append(v3Args("snmpget", a, testUser, "SHA", testAuthPass, "AES", testPrivPass), oids...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, v3)
	}
	if diff := cmp.Diff(out, v3); diff != "" {
		t.Errorf("SNMPv3 differs (-v2c +v3):\n%s", diff)
	}
}

// TestStandaloneSet is refused: nothing is writable.
func TestStandaloneSet(t *testing.T) {
	snmptest.Need(t, "snmpset")
	dir := t.TempDir()
	a := startStandalone(t, testConfig())
	for name, args := range map[string][]string{
		"v2c": v2cArgs("snmpset", a, testCommunity),
		"v3":  v3Args("snmpset", a, testUser, "SHA", testAuthPass, "AES", testPrivPass),
	} {
		out, err := tool(t, dir, append(args, "1.3.6.1.2.1.1.5.0", "s", "evil")...)
		if err == nil || !strings.Contains(out+err.Error(), "notWritable") {
			t.Errorf("%s: snmpset: %v\n%s; want notWritable", name, err, out)
		}
	}
	out, err := tool(t, dir, append(v2cArgs("snmpget", a, testCommunity), "1.3.6.1.2.1.1.5.0")...)
	if err != nil || !strings.Contains(out, `"dir1"`) {
		t.Errorf("sysName after the sets: %v %s", err, out)
	}
}

// largeSnapshots builds the tree of 180000 instances of LargeView(10000)
// before the walks, which then use it: building it takes about half a
// second, several with -race, and the walk's first request would wait for
// it.
func largeSnapshots(a *Standalone) { a.snaps.Tree(time.Now()) }

// TestStandaloneBulkwalkLarge walks a realServerTable of 10000 rows.
func TestStandaloneBulkwalkLarge(t *testing.T) {
	snmptest.Need(t, "snmpbulkwalk")
	dir := t.TempDir()
	c := testConfig()
	view := snmptest.LargeView(10000)
	c.View = func() model.View { return view }
	a := startStandalone(t, c, largeSnapshots)
	rs := Objects.Append(rsTable)
	want := 0
	for _, vb := range Build(view, snmptest.Zero).Rows() {
		if vb.Name.HasPrefix(rs) {
			want++
		}
	}
	args := append(v2cArgs("snmpbulkwalk", a, testCommunity), "-Cr50", "-t", "10", rs.String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := snmptest.Tool(ctx, dir, args...)
	if err != nil {
		t.Fatalf("%v\n%.2000s", err, out)
	}
	if got := checkIncreasing(t, out); got != want || want < 10000*5 {
		t.Errorf("%d varbinds, want %d (10000 rows)", got, want)
	}
}

// TestStandaloneNotify sends one notification to snmptrapd as an SNMPv2c
// trap, an SNMPv3 inform and an SNMPv3 trap: each arrives with
// sysUpTime.0, snmpTrapOID.0 and the notification's varbinds in order.
func TestStandaloneNotify(t *testing.T) {
	snmptest.Need(t, "snmptrapd")
	dir := t.TempDir()
	c := testConfig()
	engine := fmt.Sprintf("0x%x", EngineID(c.EngineID))
	td := snmptest.StartTrapd(t, dir, snmptest.TrapdConfig{Community: testCommunity, Extra: []string{
		// Informs: snmptrapd is authoritative, under its own engine ID.
		"createUser " + testUser + " SHA " + testAuthPass + " AES " + testPrivPass,
		// Traps: the agent is, under its engine ID.
		"createUser -e " + engine + " " + testUser + " SHA " + testAuthPass + " AES " + testPrivPass,
		"authUser log " + testUser + " priv",
	}})
	kinds := []Receiver{
		{Address: td.Addr, Version: "2c", Community: testCommunity},
		{Address: td.Addr, Version: "2c", Community: testCommunity, Inform: true},
		{Address: td.Addr, Version: "3", User: testUser, Inform: true},
		{Address: td.Addr, Version: "3", User: testUser},
	}
	for _, r := range kinds {
		name := "v" + r.Version
		if r.Inform {
			name += "-inform"
		}
		t.Run(name, func(t *testing.T) {
			cfg := c
			cfg.Receivers = []Receiver{r}
			a := startStandalone(t, cfg)
			trap := NotificationsOID.Append(2)
			a.Notify(Notification{TrapOID: trap, VarBinds: []agentx.VarBind{
				agentx.String(Objects.Append(2, 1, 2, 1704624050), name), // tells the kinds apart
				agentx.Integer(Objects.Append(2, 1, 3, 1704624050), 4),
				agentx.Counter64(Objects.Append(1, 4, 0), 17),
			}})
			got, ok := td.Wait(t, trap.String(), 10*time.Second)
			if !ok {
				t.Fatalf("no notification; stats %+v", a.Stats())
			}
			if len(got.VarBinds) != 5 || !strings.HasPrefix(got.VarBinds[0], ".1.3.6.1.2.1.1.3.0 = Timeticks: ") {
				t.Fatalf("varbinds %q", got.VarBinds)
			}
			want := []string{
				".1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.4.1.99999.0.2",
				`.1.3.6.1.4.1.99999.1.2.1.2.1704624050 = STRING: "` + name + `"`,
				".1.3.6.1.4.1.99999.1.2.1.3.1704624050 = INTEGER: 4",
				".1.3.6.1.4.1.99999.1.1.4.0 = Counter64: 17",
			}
			if diff := cmp.Diff(want, got.VarBinds[1:]); diff != "" {
				t.Errorf("varbinds (-want +got):\n%s", diff)
			}
			deadline := time.Now().Add(5 * time.Second)
			for a.Stats().Sent != 1 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if s := a.Stats(); s.Sent != 1 || s.SendFailed != 0 || s.Dropped != 0 {
				t.Errorf("stats %+v, want one sent", s)
			}
		})
	}
}

// TestStandaloneEngineBoots grows across restarts with a boots file.
func TestStandaloneEngineBoots(t *testing.T) {
	c := testConfig()
	c.BootsFile = filepath.Join(t.TempDir(), "engine-boots")
	var boots []uint32
	for range 3 {
		a, err := NewStandalone(c)
		if err != nil {
			t.Fatal(err)
		}
		boots = append(boots, a.EngineBoots())
		a.Close()
	}
	if diff := cmp.Diff([]uint32{1, 2, 3}, boots); diff != "" {
		t.Errorf("boots (-want +got):\n%s", diff)
	}
	os.WriteFile(c.BootsFile, []byte("2147483647\n"), 0o600)
	a, err := NewStandalone(c)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if a.EngineBoots() != 2147483647 {
		t.Errorf("boots %d after the last, want it to stay at 2147483647", a.EngineBoots())
	}
	os.WriteFile(c.BootsFile, []byte("many\n"), 0o600)
	if a, err := NewStandalone(c); err == nil {
		a.Close()
		t.Errorf("a boots file that is not a number was taken")
	}
	c.BootsFile = ""
	a, err = NewStandalone(c)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if a.EngineBoots() != 1 {
		t.Errorf("boots %d without a file, want 1", a.EngineBoots())
	}
}

// TestStandaloneConfigErrors are reported by NewStandalone.
func TestStandaloneConfigErrors(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	user := func(f func(*USMUser)) func(*StandaloneConfig) {
		return func(c *StandaloneConfig) { f(&c.Users[0]) }
	}
	for name, change := range map[string]func(*StandaloneConfig){
		"short auth passphrase": user(func(u *USMUser) { u.AuthPassphrase = "short" }),
		"short priv passphrase": user(func(u *USMUser) { u.PrivPassphrase = "1234567" }),
		"auth protocol MD5":     user(func(u *USMUser) { u.AuthProtocol = "MD5" }),
		"priv protocol DES":     user(func(u *USMUser) { u.PrivProtocol = "DES" }),
		"no user name":          user(func(u *USMUser) { u.Name = "" }),
		"user twice":            func(c *StandaloneConfig) { c.Users = append(c.Users, c.Users[0]) },
		"long community":        func(c *StandaloneConfig) { c.Communities = []string{strings.Repeat("c", 128)} },
		"no view":               func(c *StandaloneConfig) { c.View = nil },
		"no engine id":          func(c *StandaloneConfig) { c.EngineID = "" },
		"bad listen address":    func(c *StandaloneConfig) { c.Listen = "127.0.0.1" },
		"address in use":        func(c *StandaloneConfig) { c.Listen = busy.LocalAddr().String() },
		"receiver version":      func(c *StandaloneConfig) { c.Receivers = []Receiver{{Address: "127.0.0.1:162", Version: "1"}} },
		"receiver user": func(c *StandaloneConfig) {
			c.Receivers = []Receiver{{Address: "127.0.0.1:162", Version: "3", User: "x"}}
		},
		"receiver community": func(c *StandaloneConfig) { c.Receivers = []Receiver{{Address: "127.0.0.1:162", Version: "2c"}} },
		"receiver address": func(c *StandaloneConfig) {
			c.Receivers = []Receiver{{Address: "127.0.0.1", Version: "2c", Community: "x"}}
		},
	} {
		c := testConfig()
		change(&c)
		if a, err := NewStandalone(c); err == nil {
			a.Close()
			t.Errorf("%s: no error", name)
		}
	}
}

// TestEngineID follows RFC 3411 §5 with enterprise 99999.
func TestEngineID(t *testing.T) {
	if got, want := EngineID("farm/dir1"), []byte("\x80\x01\x86\x9f\x04farm/dir1"); !bytes.Equal(got, want) {
		t.Errorf("EngineID(farm/dir1) = %x, want %x", got, want)
	}
	long := EngineID(strings.Repeat("x", 28))
	if len(long) != 32 || long[4] != 5 {
		t.Errorf("EngineID of 28 octets = %x, want format 5 and 32 octets", long)
	}
}

// v2cRequest is an SNMPv2c request made by gosnmp.
func v2cRequest(t testing.TB, community string, typ gosnmp.PDUType, nonRepeaters uint8, maxRepetitions uint32, oids ...string) []byte {
	t.Helper()
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: community}
	b, err := g.SnmpEncodePacket(typ, nullPDUs(oids), nonRepeaters, maxRepetitions)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func nullPDUs(oids []string) []gosnmp.SnmpPDU {
	pdus := make([]gosnmp.SnmpPDU, len(oids))
	for i, o := range oids {
		pdus[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null}
	}
	return pdus
}

// v3Client is a gosnmp client of user testUser that knows a's engine ID,
// boots and time, as after discovery.
func v3Client(t testing.TB, a *Standalone) *gosnmp.GoSNMP {
	t.Helper()
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID: string(a.EngineID()), AuthoritativeEngineBoots: a.EngineBoots(),
		AuthoritativeEngineTime: a.engineTime(time.Now()),
		UserName:                testUser, AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: testAuthPass,
		PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: testPrivPass,
	}
	if err := sp.InitSecurityKeys(); err != nil {
		t.Fatal(err)
	}
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthPriv,
		SecurityParameters: sp}
	// SnmpEncodePacket checks the parameters and sets the first salt.
	if _, err := g.SnmpEncodePacket(gosnmp.GetRequest, nullPDUs([]string{"1.3.6.1"}), 0, 0); err != nil {
		t.Fatal(err)
	}
	return g
}

// v3Request is an SNMPv3 authPriv request made by g offering msgMaxSize.
func v3Request(t testing.TB, g *gosnmp.GoSNMP, msgMaxSize uint32, typ gosnmp.PDUType, nonRepeaters uint8, maxRepetitions uint32, oids ...string) []byte {
	t.Helper()
	p := g.MkSnmpPacket(typ, nullPDUs(oids), nonRepeaters, maxRepetitions)
	p.MsgMaxSize, p.MsgID, p.RequestID = msgMaxSize, 4711, 815
	p.ContextEngineID = g.SecurityParameters.(*gosnmp.UsmSecurityParameters).AuthoritativeEngineID
	if err := g.SecurityParameters.InitPacket(p); err != nil {
		t.Fatal(err)
	}
	b, err := p.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeAnswer decodes an answer of the agent with g's parameters.
func decodeAnswer(t testing.TB, g *gosnmp.GoSNMP, b []byte) *gosnmp.SnmpPacket {
	t.Helper()
	if b == nil {
		t.Fatal("no answer")
	}
	p, err := g.SnmpDecodePacket(append([]byte(nil), b...))
	if err != nil {
		t.Fatalf("decoding the answer: %v", err)
	}
	return p
}

// TestStandaloneMessageSize: GetBulk answers shrink to the message size
// the manager takes (RFC 3416 §4.2.3) and stop at the end of the MIB view;
// Get answers that would not fit are tooBig (§4.2.1).
func TestStandaloneMessageSize(t *testing.T) {
	c := testConfig()
	view := snmptest.LargeView(10000)
	c.View = func() model.View { return view }
	c.SysDescr = strings.Repeat("d", 255)
	a, err := NewStandalone(c)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	v2c := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	g := v3Client(t, a)
	rs := Objects.Append(rsTable).String()
	for _, tc := range []struct {
		name          string
		req           []byte
		dec           *gosnmp.GoSNMP
		limit         int
		status        gosnmp.SNMPError
		min, max      int // varbinds
		lastEndOfView bool
	}{
		{name: "v2c bulk of 2^31-1 repetitions", req: v2cRequest(t, testCommunity, gosnmp.GetBulkRequest, 0, 1<<31-1, rs),
			dec: v2c, limit: StandaloneMaxMessage, min: 1000, max: maxBulkVarBinds},
		{name: "v2c bulk of 3 columns to the end", req: v2cRequest(t, testCommunity, gosnmp.GetBulkRequest, 1, 10, "1.3.6.1.2.1.1.1.0", "1.3.6.1.6.3.15.1.1.5.0", "1.3.6.1.6.3.15.1.1.6.0"),
			dec: v2c, limit: StandaloneMaxMessage, min: 1 + 2*2, max: 1 + 2*2, lastEndOfView: true},
		{name: "v3 bulk in 484 octets", req: v3Request(t, g, 484, gosnmp.GetBulkRequest, 0, 100, rs),
			dec: g, limit: 484, min: 5, max: 15},
		{name: "v3 bulk in 65507 octets", req: v3Request(t, g, 1<<20, gosnmp.GetBulkRequest, 0, 1500, rs),
			dec: g, limit: StandaloneMaxMessage, min: 1000, max: 1500},
		{name: "v2c get too big", req: v2cRequest(t, testCommunity, gosnmp.GetRequest, 0, 0, repeat("1.3.6.1.2.1.1.1.0", 300)...),
			dec: v2c, limit: StandaloneMaxMessage, status: gosnmp.TooBig},
		{name: "v3 getnext too big", req: v3Request(t, g, 484, gosnmp.GetNextRequest, 0, 0, repeat("1.3.6.1.2.1.1.1", 3)...),
			dec: g, limit: 484, status: gosnmp.TooBig},
		{name: "v3 get fits", req: v3Request(t, g, 484, gosnmp.GetRequest, 0, 0, "1.3.6.1.2.1.1.1.0"),
			dec: g, limit: 484, min: 1, max: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := a.handle(tc.req)
			if len(out) > tc.limit {
				t.Errorf("answer of %d octets, limit %d", len(out), tc.limit)
			}
			p := decodeAnswer(t, tc.dec, out)
			if p.PDUType != gosnmp.GetResponse || p.Error != tc.status {
				t.Fatalf("%s %s, want GetResponse %s", p.PDUType, p.Error, tc.status)
			}
			if n := len(p.Variables); n < tc.min || n > tc.max {
				t.Errorf("%d varbinds, want %d to %d", n, tc.min, tc.max)
			}
			if tc.lastEndOfView && p.Variables[len(p.Variables)-1].Type != gosnmp.EndOfMibView {
				t.Errorf("last varbind %v, want endOfMibView", p.Variables[len(p.Variables)-1])
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestStandaloneMalformed: datagrams that are not SNMP get no answer and
// are counted.
func TestStandaloneMalformed(t *testing.T) {
	c := testConfig()
	a, err := NewStandalone(c)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	good := v2cRequest(t, testCommunity, gosnmp.GetRequest, 0, 0, "1.3.6.1.2.1.1.5.0")
	g := v3Client(t, a)
	goodV3 := v3Request(t, g, 65507, gosnmp.GetRequest, 0, 0, "1.3.6.1.2.1.1.5.0")
	if a.handle(good) == nil || a.handle(goodV3) == nil {
		t.Fatal("no answer to good requests")
	}
	response := v2cRequest(t, testCommunity, gosnmp.GetResponse, 0, 0, "1.3.6.1.2.1.1.5.0")
	v1, err := (&gosnmp.GoSNMP{Version: gosnmp.Version1, Community: testCommunity}).
		SnmpEncodePacket(gosnmp.GetRequest, nullPDUs([]string{"1.3.6.1.2.1.1.5.0"}), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), goodV3...)
	flipped[len(flipped)-1] ^= 0xff // the encrypted PDU: the MAC no longer matches
	for name, tc := range map[string]struct {
		pkt  []byte
		stat func(StandaloneStats) uint64
	}{
		"empty":             {nil, func(s StandaloneStats) uint64 { return s.Malformed }},
		"text":              {[]byte("GET / HTTP/1.0\r\n\r\n"), func(s StandaloneStats) uint64 { return s.Malformed }},
		"truncated v2c":     {good[:len(good)-3], func(s StandaloneStats) uint64 { return s.Malformed }},
		"trailing octets":   {append(append([]byte(nil), good...), 0, 0), func(s StandaloneStats) uint64 { return s.Malformed }},
		"truncated v3":      {goodV3[:len(goodV3)-1], func(s StandaloneStats) uint64 { return s.Malformed }},
		"response pdu":      {response, func(s StandaloneStats) uint64 { return s.Malformed }},
		"v1":                {v1, func(s StandaloneStats) uint64 { return s.BadVersion }},
		"wrong community":   {v2cRequest(t, "public2", gosnmp.GetRequest, 0, 0, "1.3.6.1.2.1.1.5.0"), func(s StandaloneStats) uint64 { return s.BadCommunity }},
		"indefinite length": {append([]byte{0x30, 0x80}, good[2:]...), func(s StandaloneStats) uint64 { return s.Malformed }},
	} {
		before := tc.stat(a.Stats())
		if out := a.handle(tc.pkt); out != nil {
			t.Errorf("%s: answered %x", name, out)
		}
		if tc.stat(a.Stats()) != before+1 {
			t.Errorf("%s: not counted: %+v", name, a.Stats())
		}
	}

	// A reportable SNMPv3 request whose MAC does not match gets a
	// Report, unauthenticated, with the counter and nothing else.
	out := a.handle(flipped)
	p := decodeAnswer(t, &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: "-", AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}}, out)
	if p.PDUType != gosnmp.Report || p.MsgFlags != gosnmp.NoAuthNoPriv || len(p.Variables) != 1 ||
		p.Variables[0].Name != ".1.3.6.1.6.3.15.1.1.5.0" || p.Variables[0].Value != uint(1) {
		t.Errorf("answer to a wrong MAC: %s", p.SafeString())
	}
	if s := a.Stats(); s.WrongDigests != 1 {
		t.Errorf("stats %+v, want one wrong digest", s)
	}
}

// TestStandaloneRunStops: Run returns once its context ends, and the port
// is free again.
func TestStandaloneRunStops(t *testing.T) {
	c := testConfig()
	c.Listen = "127.0.0.1:" + strconv.Itoa(snmptest.FreeUDPPort(t))
	for range 2 {
		a, err := NewStandalone(c)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
		}
	}
}

// benchmarkBulkwalk walks the realServerTable of 10000 rows with
// snmpbulkwalk -Cr50 once per iteration and reports varbinds per second,
// the tool's own time included.
func benchmarkBulkwalk(b *testing.B, args func(a *Standalone) []string) {
	snmptest.Need(b, "snmpbulkwalk")
	dir := b.TempDir()
	c := testConfig()
	view := snmptest.LargeView(10000)
	c.View = func() model.View { return view }
	a := startStandalone(b, c, largeSnapshots)
	oid := Objects.Append(rsTable).String()
	varbinds := 0
	b.ResetTimer()
	for b.Loop() {
		out, err := tool(b, dir, append(args(a), "-Cr50", oid)...)
		if err != nil {
			b.Fatalf("%v\n%.500s", err, out)
		}
		varbinds += strings.Count(out, "\n")
	}
	b.ReportMetric(float64(varbinds)/b.Elapsed().Seconds(), "varbinds/s")
}

func BenchmarkStandaloneBulkwalk10k(b *testing.B) {
	b.Run("v2c", func(b *testing.B) {
		benchmarkBulkwalk(b, func(a *Standalone) []string { return v2cArgs("snmpbulkwalk", a, testCommunity) })
	})
	b.Run("v3-SHA-AES", func(b *testing.B) {
		benchmarkBulkwalk(b, func(a *Standalone) []string {
			return v3Args("snmpbulkwalk", a, testUser, "SHA", testAuthPass, "AES", testPrivPass)
		})
	})
}

// TestStandaloneNotifyQueue: Notify never blocks; a full queue drops the
// oldest notifications and counts them; those queued before Run are sent
// once it runs, oldest first.
func TestStandaloneNotifyQueue(t *testing.T) {
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	c := testConfig()
	c.Receivers = []Receiver{{Address: sink.LocalAddr().String(), Version: "2c", Community: testCommunity}}
	a, err := NewStandalone(c)
	if err != nil {
		t.Fatal(err)
	}
	const n = StandaloneQueueLen + 44
	for i := range n {
		a.Notify(Notification{TrapOID: NotificationsOID.Append(1), VarBinds: []agentx.VarBind{
			agentx.Gauge32(Objects.Append(1, 6, 0), uint32(i))}})
	}
	if s := a.Stats(); s.Dropped != 44 || s.Sent != 0 {
		t.Fatalf("stats %+v, want 44 dropped", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	buf := make([]byte, 65536)
	for want := 44; want < n; want++ {
		sink.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, _, err := sink.ReadFrom(buf)
		if err != nil {
			t.Fatalf("trap %d: %v", want, err)
		}
		p, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(buf[:k])
		if err != nil {
			t.Fatal(err)
		}
		if p.PDUType != gosnmp.SNMPv2Trap || len(p.Variables) != 3 || p.Variables[2].Value != uint(want) {
			t.Fatalf("trap %d: %s", want, p.SafeString())
		}
	}
}

// TestStandaloneInformUnanswered: an inform nobody acknowledges is sent
// again, then counted as failed; Run returns at once when its context ends
// even while the sender waits for an acknowledgement.
func TestStandaloneInformUnanswered(t *testing.T) {
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	c := testConfig()
	c.Receivers = []Receiver{{Address: sink.LocalAddr().String(), Version: "2c", Community: testCommunity, Inform: true}}
	tries := func(n int, d time.Duration) {
		t.Helper()
		buf := make([]byte, 65536)
		for i := range n {
			sink.SetReadDeadline(time.Now().Add(d))
			if _, _, err := sink.ReadFrom(buf); err != nil {
				t.Fatalf("inform, try %d: %v", i+1, err)
			}
		}
	}

	a := startStandalone(t, c, func(a *Standalone) { a.informTimeout, a.informRetries = 100*time.Millisecond, 2 })
	a.Notify(Notification{TrapOID: NotificationsOID.Append(1)})
	tries(3, time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for a.Stats().SendFailed == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := a.Stats(); s.SendFailed != 1 || s.Sent != 0 {
		t.Errorf("stats %+v, want one failed", s)
	}

	a, err = NewStandalone(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	a.Notify(Notification{TrapOID: NotificationsOID.Append(1)})
	tries(1, time.Second)
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Run waits for the inform's retries")
	}
}

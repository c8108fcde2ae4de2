// Package snmptest runs Debian's net-snmp programs for interop tests:
// snmpd as the AgentX master, snmptrapd as a notification receiver, and the
// command-line tools (snmpwalk, snmpget, snmpbulkwalk). Everything runs
// from a test's temporary directory, on loopback and random ports, and is
// stopped by the test's cleanup.
package snmptest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Need skips t unless the named programs are installed (Debian packages
// snmpd, snmp and snmptrapd; `make deps` installs them).
func Need(t testing.TB, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed (Debian packages snmpd, snmp, snmptrapd): %v", p, err)
		}
	}
}

// Env keeps the net-snmp programs off the host's configuration, MIB files
// and /var/lib/snmp: numeric output (-On) needs no MIB, and Debian ships
// only a few. dir is the test's directory.
func Env(dir string) []string {
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o700)
	// Made here so the tools do not say "Created directory" on stderr.
	os.MkdirAll(filepath.Join(dir, "persist", "cert_indexes"), 0o700)
	return append(os.Environ(), "MIBDIRS="+empty, "MIBS=", "SNMPCONFPATH="+empty,
		"SNMP_PERSISTENT_DIR="+filepath.Join(dir, "persist"))
}

// FreeUDPPort returns a loopback UDP port that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// Tool runs one net-snmp command-line tool (args[0]) with Env(dir) and
// returns its standard output. Anything on standard error, or a non-zero
// exit, is returned as an error along with the output.
func Tool(ctx context.Context, dir string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, args[0], args[1:]...)
	c.Env = Env(dir)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil || stderr.Len() > 0 {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Snmpd is a running snmpd in master agentx mode.
type Snmpd struct {
	// Addr is the SNMP address (127.0.0.1:port) managers query.
	Addr string
	// Socket is the AgentX unix socket.
	Socket string
	dir    string
	conf   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    bytes.Buffer
}

// SnmpdConfig configures StartSnmpd.
type SnmpdConfig struct {
	// Community is the read-only v2c community (default "public").
	Community string
	// TrapSinks are v2c trap receivers (host:port) snmpd forwards our
	// notifications to, with the community.
	TrapSinks []string
	// Extra lines for snmpd.conf.
	Extra []string
}

// StartSnmpd starts snmpd on a random loopback UDP port with an AgentX
// unix socket in dir, waits until the socket accepts connections, and
// stops snmpd when the test ends.
func StartSnmpd(t testing.TB, dir string, c SnmpdConfig) *Snmpd {
	t.Helper()
	Need(t, "snmpd")
	if c.Community == "" {
		c.Community = "public"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := &Snmpd{
		Addr:   "127.0.0.1:" + strconv.Itoa(FreeUDPPort(t)),
		Socket: filepath.Join(dir, "agentx.sock"),
		dir:    dir,
		conf:   filepath.Join(dir, "snmpd.conf"),
	}
	lines := []string{
		"master agentx",
		"agentXSocket unix:" + s.Socket,
		"agentXPerms 0600 0700",
		"agentXTimeout 5",
		"rocommunity " + c.Community + " 127.0.0.1",
		"[snmp] persistentDir " + filepath.Join(dir, "persist"),
	}
	for _, sink := range c.TrapSinks {
		lines = append(lines, "trap2sink "+sink+" "+c.Community)
	}
	lines = append(lines, c.Extra...)
	if err := os.WriteFile(s.conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Start(t)
	t.Cleanup(func() {
		s.Stop(t)
		if t.Failed() || testing.Verbose() {
			t.Logf("snmpd output:\n%s", s.Log())
		}
	})
	return s
}

// Start starts snmpd (again, after Stop) and waits for its AgentX socket.
func (s *Snmpd) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	cmd := exec.Command("snmpd", "-f", "-Lo", "-C", "-c", s.conf, "udp:"+s.Addr)
	cmd.Env = Env(s.dir)
	cmd.Stdout, cmd.Stderr = &lockedWriter{&s.mu, &s.log}, &lockedWriter{&s.mu, &s.log}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", s.Socket); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("snmpd exited at start:\n%s", s.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("snmpd did not open %s within 10s", s.Socket)
		}
	}
}

// Stop stops snmpd (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (s *Snmpd) Stop(t testing.TB) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Log is what snmpd printed so far.
func (s *Snmpd) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Trap is one notification as snmptrapd logged it.
type Trap struct {
	// From is the sender's address as snmptrapd prints it.
	From string
	// VarBinds are "OID = TYPE: value" lines (numeric OIDs), in order; the
	// first two are sysUpTime.0 and snmpTrapOID.0.
	VarBinds []string
}

// TrapOID is the value of snmpTrapOID.0 ("1.3.6.1.4.1.99999.0.2"), or "".
func (t Trap) TrapOID() string {
	for _, vb := range t.VarBinds {
		if name, val, ok := strings.Cut(vb, " = "); ok && name == ".1.3.6.1.6.3.1.1.4.1.0" {
			return strings.TrimPrefix(strings.TrimPrefix(val, "OID: "), ".")
		}
	}
	return ""
}

// Trapd is a running snmptrapd that logs every notification it accepts.
type Trapd struct {
	// Addr is where it listens (127.0.0.1:port).
	Addr  string
	traps chan Trap
	mu    sync.Mutex
	log   bytes.Buffer
	kept  []Trap // arrived, not yet returned by Wait
}

// TrapdConfig configures StartTrapd.
type TrapdConfig struct {
	// Community accepted for v1/v2c notifications ("" accepts none).
	Community string
	// Extra lines for snmptrapd.conf, e.g. "createUser -e 0x8000... user
	// SHA authpass AES privpass" and "authUser log user priv" for SNMPv3.
	Extra []string
}

// StartTrapd starts snmptrapd on a random loopback UDP port and stops it
// when the test ends.
func StartTrapd(t testing.TB, dir string, c TrapdConfig) *Trapd {
	t.Helper()
	Need(t, "snmptrapd")
	td := &Trapd{Addr: "127.0.0.1:" + strconv.Itoa(FreeUDPPort(t)), traps: make(chan Trap, 1024)}
	tdir := filepath.Join(dir, "trapd")
	os.MkdirAll(tdir, 0o700)
	conf := filepath.Join(tdir, "snmptrapd.conf")
	lines := []string{"[snmp] persistentDir " + filepath.Join(tdir, "persist")}
	if c.Community != "" {
		lines = append(lines, "authCommunity log "+c.Community)
	}
	lines = append(lines, c.Extra...)
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// One notification per line: "TRAP <from>|<vb>|<vb>...".
	cmd := exec.Command("snmptrapd", "-f", "-Lo", "-On", "-C", "-c", conf,
		"-F", "TRAP %B\t%V|%v\n", "udp:"+td.Addr)
	cmd.Env = Env(tdir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{&td.mu, &td.log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			td.mu.Lock()
			td.log.WriteString(line + "\n")
			td.mu.Unlock()
			rest, ok := strings.CutPrefix(line, "TRAP ")
			if !ok {
				continue
			}
			from, vbs, _ := strings.Cut(rest, "\t")
			tr := Trap{From: from}
			for vb := range strings.SplitSeq(vbs, "|") {
				if vb = strings.TrimSpace(vb); vb != "" {
					tr.VarBinds = append(tr.VarBinds, vb)
				}
			}
			select {
			case td.traps <- tr:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
		cmd.Wait()
		if t.Failed() || testing.Verbose() {
			t.Logf("snmptrapd output:\n%s", td.Log())
		}
	})
	// snmptrapd prints "NET-SNMP version ..." once it listens.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(td.Log(), "NET-SNMP version") {
		if time.Now().After(deadline) {
			t.Fatalf("snmptrapd did not start within 10s:\n%s", td.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return td
}

// Wait returns the first notification not yet returned by Wait or
// WaitMatch whose snmpTrapOID is trapOID (numeric, without the leading
// dot), waiting up to d for it to arrive.
func (td *Trapd) Wait(t testing.TB, trapOID string, d time.Duration) (Trap, bool) {
	t.Helper()
	return td.WaitMatch(t, d, func(tr Trap) bool { return tr.TrapOID() == trapOID })
}

// WaitMatch returns the first notification not yet returned for which
// match holds, waiting up to d for it to arrive. Notifications that do not
// match are kept for later calls.
func (td *Trapd) WaitMatch(t testing.TB, d time.Duration, match func(Trap) bool) (Trap, bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		// Move what arrived into the kept list, then search it.
		for more := true; more; {
			select {
			case tr := <-td.traps:
				td.mu.Lock()
				td.kept = append(td.kept, tr)
				td.mu.Unlock()
			default:
				more = false
			}
		}
		td.mu.Lock()
		for i, tr := range td.kept {
			if match(tr) {
				td.kept = append(td.kept[:i:i], td.kept[i+1:]...)
				td.mu.Unlock()
				return tr, true
			}
		}
		td.mu.Unlock()
		if time.Now().After(deadline) {
			return Trap{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log is what snmptrapd printed so far.
func (td *Trapd) Log() string {
	td.mu.Lock()
	defer td.mu.Unlock()
	return td.log.String()
}

package agentx

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"github.com/droverha/drover/internal/golden"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// interopTable is what TestInteropSnmpd serves: scalars of most types and
// a two-row table.
func interopTable() table {
	return newTable(append(testTable(),
		IPAddress(base.Append(5, 0), netip.MustParseAddr("192.0.2.7")),
		Gauge32(base.Append(6, 0), 42),
		TimeTicks(base.Append(7, 0), 12345),
		ObjectID(base.Append(8, 0), mustOID("1.3.6.1.4.1.99999.2")),
		Counter32(base.Append(9, 0), 7),
	)...)
}

// snmpEnv keeps the net-snmp tools from loading MIB files: Debian ships
// only a few (the IETF ones are in non-free snmp-mibs-downloader), and
// numeric output (-On) needs none.
// SNMPCONFPATH and SNMP_PERSISTENT_DIR keep the tools off the host's
// configuration and /var/lib/snmp.
func snmpEnv(dir string) []string {
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o700)
	return append(os.Environ(), "MIBDIRS="+empty, "MIBS=", "SNMPCONFPATH="+empty,
		"SNMP_PERSISTENT_DIR="+filepath.Join(dir, "persist"))
}

// TestInteropSnmpd runs net-snmp's snmpd as the AgentX master on a random
// loopback port, serves a subtree through a Session and reads it back with
// snmpwalk, snmpbulkwalk, snmpget and snmpset. Needs Debian's snmpd and
// snmp packages; skips without them.
func TestInteropSnmpd(t *testing.T) {
	for _, bin := range []string{"snmpd", "snmpwalk", "snmpbulkwalk", "snmpget", "snmpset"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (Debian packages snmpd and snmp): %v", bin, err)
		}
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "agentx.sock")
	port := freeUDPPort(t)
	agent := "127.0.0.1:" + strconv.Itoa(port)
	// snmpd forwards our Notify as an SNMPv2 trap to this socket.
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	conf := filepath.Join(dir, "snmpd.conf")
	err = os.WriteFile(conf, []byte(strings.Join([]string{
		"master agentx",
		"agentXSocket unix:" + sock,
		"agentXPerms 0600 0700",
		"rocommunity public 127.0.0.1",
		"rwcommunity private 127.0.0.1",
		"trap2sink " + sink.LocalAddr().String() + " public",
		"[snmp] persistentDir " + filepath.Join(dir, "persist"),
		"",
	}, "\n")), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command("snmpd", "-f", "-Lo", "-C", "-c", conf, "udp:"+agent)
	cmd.Env = snmpEnv(dir)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("snmpd output:\n%s", log.String())
		}
	})

	conn := dialUntil(t, sock, exited)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenSession(ctx, conn, Config{ID: mustOID("1.3.6.1.4.1.99999"), Description: "drover interop test", Handler: interopTable()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Register(ctx, Registration{Subtree: base, Priority: DefaultPriority}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(ctx, Registration{Subtree: base, Priority: DefaultPriority}); !isStatus(err, DuplicateRegistration) {
		t.Errorf("second registration: %v, want duplicateRegistration", err)
	}
	if err := s.AddAgentCaps(ctx, mustOID("1.3.6.1.4.1.99999.3"), "drover test caps"); err != nil {
		t.Errorf("AddAgentCaps: %v", err)
	}

	// snmpd allocates a fresh index and refuses to hand it out twice.
	idx := Integer(base.Append(4, 1, 1), 0)
	got, err := s.IndexAllocate(ctx, true, false, idx)
	if err != nil || len(got) != 1 || got[0].Type != TypeInteger || !got[0].Name.Equal(idx.Name) {
		t.Errorf("IndexAllocate = %+v, %v", got, err)
	} else {
		// RFC 2741 §7.1.4 says indexAlreadyAllocated; net-snmp 5.9.3
		// answers indexNoneAvailable, with res.index 0.
		if _, err := s.IndexAllocate(ctx, false, false, got[0]); !isStatus(err, IndexAlreadyAllocated) && !isStatus(err, IndexNoneAvailable) {
			t.Errorf("allocating %v twice: %v, want indexAlreadyAllocated", got[0].Value, err)
		}
		if err := s.IndexDeallocate(ctx, got[0]); err != nil {
			t.Errorf("IndexDeallocate: %v", err)
		}
	}

	snmp := func(args ...string) string {
		t.Helper()
		c := exec.CommandContext(ctx, args[0], args[1:]...)
		c.Env = snmpEnv(dir)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("%s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return string(out)
	}
	walk := snmp("snmpwalk", "-v2c", "-c", "public", "-On", agent, "1.3.6.1.4.1.99999")
	goldenFile(t, "testdata/snmpwalk.golden", walk)
	// snmpbulkwalk drives GetBulk through the master: the same objects.
	if bulk := snmp("snmpbulkwalk", "-v2c", "-c", "public", "-On", "-Cr3", agent, "1.3.6.1.4.1.99999"); bulk != walk {
		t.Errorf("snmpbulkwalk differs from snmpwalk:\n%s", bulk)
	}
	get := snmp("snmpget", "-v2c", "-c", "public", "-On", agent,
		"1.3.6.1.4.1.99999.1.2.0", "1.3.6.1.4.1.99999.1.4.1.2.2", "1.3.6.1.4.1.99999.1.99.0", "1.3.6.1.4.1.99999.1.5.0")
	goldenFile(t, "testdata/snmpget.golden", get)

	// A set reaches us as TestSet and is refused.
	c := exec.CommandContext(ctx, "snmpset", "-v2c", "-c", "private", "-On", agent, "1.3.6.1.4.1.99999.1.2.0", "i", "5")
	c.Env = snmpEnv(dir)
	out, _ := c.CombinedOutput()
	if !strings.Contains(string(out), "notWritable") {
		t.Errorf("snmpset answered:\n%s\nwant notWritable", out)
	}

	if err := s.Notify(ctx,
		TimeTicks(mustOID("1.3.6.1.2.1.1.3.0"), 100),
		ObjectID(mustOID("1.3.6.1.6.3.1.1.4.1.0"), mustOID("1.3.6.1.4.1.99999.0.1")),
		String(base.Append(1, 0), "drover")); err != nil {
		t.Errorf("Notify: %v", err)
	}
	// Skip the traps snmpd sends on its own (coldStart) until ours, found
	// by the BER encoding of 1.3.6.1.4.1.99999.0.1 in the datagram.
	trapOID := []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x00, 0x01}
	sink.SetReadDeadline(time.Now().Add(5 * time.Second))
	for buf := make([]byte, 65536); ; {
		n, _, err := sink.ReadFrom(buf)
		if err != nil {
			t.Errorf("waiting for the trap: %v", err)
			break
		}
		if bytes.Contains(buf[:n], trapOID) {
			break
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := s.Close(ctx, ReasonShutdown); err != nil {
		t.Errorf("Close: %v", err)
	}
	// With the session closed the subtree is gone from the master.
	if got := snmp("snmpget", "-v2c", "-c", "public", "-On", agent, "1.3.6.1.4.1.99999.1.1.0"); !strings.Contains(got, "No Such Object") {
		t.Errorf("after Close:\n%s", got)
	}
}

func isStatus(err error, s ErrorStatus) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.Status == s
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// dialUntil connects to the master's AgentX socket once snmpd made it.
func dialUntil(t *testing.T, sock string, exited <-chan struct{}) net.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("unix", sock)
		if err == nil {
			return conn
		}
		select {
		case <-exited:
			t.Fatalf("snmpd exited before opening %s", sock)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("connecting to snmpd: %v", err)
		}
	}
}

func goldenFile(t *testing.T, path, got string) {
	t.Helper()
	golden.Compare(t, *update, path, []byte(got))
}

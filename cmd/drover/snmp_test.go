package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/droverha/drover/internal/snmptest"
)

// TestAgentSNMP runs `drover agent` with both SNMP faces on: the AgentX
// subagent under an snmpd configured from deploy/snmpd.conf (its socket,
// network and trap sink pointed at the test's), and the standalone agent.
// snmpwalk reads the cluster through both; the manager's election arrives
// at snmptrapd through snmpd; the standalone agent keeps answering SNMPv3
// after the agent restarts; the graceful stop in between is announced as a
// node leaving.
func TestAgentSNMP(t *testing.T) {
	snmptest.Need(t, "snmpd", "snmptrapd", "snmpwalk", "snmpget")
	dir := t.TempDir()
	trapd := snmptest.StartTrapd(t, dir, snmptest.TrapdConfig{Community: "public"})
	deploy, err := os.ReadFile("../../deploy/snmpd.conf")
	if err != nil {
		t.Fatal(err)
	}
	sdir := filepath.Join(dir, "snmpd")
	sock := filepath.Join(sdir, "agentx.sock")
	conf := strings.NewReplacer(
		"unix:/var/agentx/master", "unix:"+sock,
		"192.0.2.0/24", "127.0.0.1",
		"192.0.2.50", trapd.Addr,
	).Replace(string(deploy))
	snmpd := snmptest.StartSnmpd(t, sdir, snmptest.SnmpdConfig{Extra: strings.Split(conf, "\n")})

	listen := "127.0.0.1:" + fmt.Sprint(snmptest.FreeUDPPort(t))
	cfgFile := filepath.Join(dir, "drover.yaml")
	err = os.WriteFile(cfgFile, []byte(fmt.Sprintf(`node: web1
cluster: farm
data_dir: %s
bus:
  listen: %s
snmp:
  agentx:
    enabled: true
    socket: %s
  standalone:
    listen: %s
    communities: [public]
    users:
      - name: monitor
        auth_passphrase: auth-passphrase-1
        priv_passphrase: priv-passphrase-1
  sys_location: test rack
`, filepath.Join(dir, "data"), freePort(t), sock, listen)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p := startAgentProc(t, "--config", cfgFile)

	snmp := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return snmptest.Tool(ctx, dir, args...)
	}
	v3 := []string{"-v3", "-l", "authPriv", "-u", "monitor", "-a", "SHA", "-A", "auth-passphrase-1", "-x", "AES", "-X", "priv-passphrase-1", "-On"}
	want := []string{
		`.1.3.6.1.4.1.99999.1.1.1.0 = STRING: "farm"`,
		`.1.3.6.1.4.1.99999.1.1.3.0 = STRING: "web1"`,
		`.1.3.6.1.4.1.99999.1.1.9.0 = Gauge32: 1`,
	}
	waitWalk := func(what string, args ...string) string {
		t.Helper()
		var out string
		var err error
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			out, err = snmp(args...)
			if err == nil && strings.Contains(out, want[1]) {
				return out
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("%s: %v\n%s\nagent log:\n%s", what, err, out, p.logs)
		return ""
	}
	viaSnmpd := waitWalk("walk through snmpd", append([]string{"snmpwalk", "-v2c", "-c", "public", "-On", snmpd.Addr}, "1.3.6.1.4.1.99999")...)
	standalone := waitWalk("v3 walk of the standalone agent", append(append([]string{"snmpwalk"}, v3...), listen, "1.3.6.1.4.1.99999")...)
	for _, w := range want {
		for name, out := range map[string]string{"snmpd": viaSnmpd, "standalone": standalone} {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("%s walk lacks %q:\n%s", name, w, out)
			}
		}
	}
	// snmpd answers sysObjectID as deploy/snmpd.conf sets it; the
	// standalone agent answers it itself, with the configured location.
	for name, args := range map[string][]string{
		"snmpd":      {"snmpget", "-v2c", "-c", "public", "-On", snmpd.Addr, "1.3.6.1.2.1.1.2.0"},
		"standalone": append(append([]string{"snmpget"}, v3...), listen, "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.6.0"),
	} {
		out, err := snmp(args...)
		if err != nil || !strings.Contains(out, ".1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.99999.3.1") {
			t.Errorf("%s sysObjectID: %v\n%s", name, err, out)
		}
		if name == "standalone" && !strings.Contains(out, `.1.3.6.1.2.1.1.6.0 = STRING: "test rack"`) {
			t.Errorf("standalone sysLocation:\n%s", out)
		}
	}
	// The election at start reached snmptrapd through snmpd.
	if tr, ok := trapd.Wait(t, "1.3.6.1.4.1.99999.0.3", 10*time.Second); !ok {
		t.Errorf("no droverManagerElected at snmptrapd; agent log:\n%s\nsnmptrapd:\n%s", p.logs, trapd.Log())
	} else if len(tr.VarBinds) < 3 || tr.VarBinds[2] != `.1.3.6.1.4.1.99999.1.1.3.0 = STRING: "web1"` {
		t.Errorf("droverManagerElected varbinds %q", tr.VarBinds)
	}

	// A restarted agent answers SNMPv3 again: its engineBoots grew, which
	// the manager accepts.
	p.term(t)
	// A graceful stop is a node leaving: droverNodeDown, state left(5),
	// sent before the agent exits.
	if tr, ok := trapd.Wait(t, "1.3.6.1.4.1.99999.0.2", 5*time.Second); !ok {
		t.Errorf("no droverNodeDown after SIGTERM; agent log:\n%s", p.logs)
	} else if len(tr.VarBinds) < 4 || !strings.HasSuffix(tr.VarBinds[3], "= INTEGER: 5") {
		t.Errorf("droverNodeDown varbinds %q, want state left(5)", tr.VarBinds)
	}
	startAgentProc(t, "--config", cfgFile)
	waitWalk("v3 walk after a restart", append(append([]string{"snmpwalk"}, v3...), listen, "1.3.6.1.4.1.99999.1.1")...)
}

// TestAgentSNMPConfigErrors: a bad snmp section stops the agent before it
// starts, exit status 2, naming the key.
func TestAgentSNMPConfigErrors(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "drover.yaml")
	err := os.WriteFile(cfgFile, []byte(`snmp:
  standalone:
    listen: 127.0.0.1:1161
    users:
      - name: monitor
        auth_passphrase: short
        priv_passphrase: priv-passphrase-1
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code := drover(t, "agent", "--config", cfgFile)
	if code != 2 || !strings.Contains(errOut, "snmp.standalone.users[0].auth_passphrase") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}

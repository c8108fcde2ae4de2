package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/droverha/drover/cim"
	"github.com/droverha/drover/model"
	"golang.org/x/crypto/bcrypt"
)

// TestCIMDrainThroughWbemcli runs SBLIM's wbemcli against the CIM server
// of a live three-node cluster (two directors sharing VIP group "web",
// n1 preferred, and a witness): the names it enumerates, a viewer's drain
// refused, an operator's RequestStateChange(6 Offline) on n1 moving "web"
// to n2, RequestStateChange(2 Enabled) bringing it back, and each attempt
// in the audit log.
func TestCIMDrainThroughWbemcli(t *testing.T) {
	bin, err := exec.LookPath("wbemcli")
	if err != nil {
		t.Skip("wbemcli not installed (Debian: sblim-wbemcli)")
	}
	vc := newVIPCluster(t)
	vc.waitHolder(15*time.Second, "n1")
	via := vc.agents[2] // the witness answers for the whole cluster

	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	var lines []string
	for _, u := range []struct{ name, role string }{{"olga", "operator"}, {"vera", "viewer"}} {
		h, err := bcrypt.GenerateFromPassword([]byte(u.name+"-password"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u.name+":"+u.role+":"+string(h))
	}
	if err := os.WriteFile(users, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	audit := filepath.Join(dir, "audit.log")
	srv, err := cim.NewServer(cim.ServerConfig{
		Listen: "127.0.0.1:0", UsersFile: users, AuditFile: audit,
		View: via.View, Invoker: via,
		Snapshot: func(v model.View) cim.Model { return cim.Build(v) },
		Handlers: func(d cim.HandlerDeps) (http.Handler, http.Handler) {
			m := cim.NewMethods(d.Model, d.Invoker, d.Audit)
			return cim.RESTHandler(d.Model, m, d.Logger), cim.CIMXMLHandler(d.Model, m, d.Logger)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	wbemcli := func(user string, args ...string) (string, error) {
		t.Helper()
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "URL", fmt.Sprintf("http://%s:%s-password@%s/root/drover", user, user, srv.Addr()))
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		cmd := exec.CommandContext(cctx, bin, args...)
		cmd.Env = []string{"LANG=C", "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// Every node, by its CIM name.
	out, err := wbemcli("vera", "ein", "URL:DRV_Node")
	if err != nil {
		t.Fatalf("ein: %v\n%s", err, out)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if !strings.Contains(out, `DRV_Node.CreationClassName="DRV_Node",Name="`+n+`"`) {
			t.Errorf("ein lacks %s:\n%s", n, out)
		}
	}

	n1 := `URL:DRV_Node.CreationClassName="DRV_Node",Name="n1"`
	// A viewer may look, not drain.
	if out, err := wbemcli("vera", "cm", n1, "RequestStateChange.RequestedState=6"); err == nil || !strings.Contains(out, "CIM_ERR_ACCESS_DENIED") {
		t.Errorf("a viewer's drain: %v\n%s", err, out)
	}
	time.Sleep(500 * time.Millisecond)
	if owner := groupOwner(via.View(), "web"); owner != "n1" {
		t.Fatalf("after a refused drain web is on %q", owner)
	}

	// An operator drains n1: the manager moves web to n2.
	out, err = wbemcli("olga", "cm", n1, "RequestStateChange.RequestedState=6")
	if err != nil || !strings.Contains(out, "4096") {
		t.Fatalf("an operator's drain: %v\n%s", err, out)
	}
	vc.waitHolder(10*time.Second, "n2")
	waitFor(t, 5*time.Second, "n1 drained in the view", func() bool {
		for _, n := range via.View().Nodes {
			if n.Name == "n1" {
				return n.Drained
			}
		}
		return false
	})
	// The CIM side shows it too: Quiesce (9) while n1 still serves the
	// group it yielded (1.5 s), then Offline (6).
	waitFor(t, 5*time.Second, "n1 EnabledState=6 Offline over CIM-XML", func() bool {
		out, err = wbemcli("vera", "gi", n1)
		return err == nil && strings.Contains(out, "EnabledState=6,") && strings.Contains(out, "RequestedState=6,")
	})

	// Enabled again: web preempts back to n1.
	if out, err := wbemcli("olga", "cm", n1, "RequestStateChange.RequestedState=2"); err != nil {
		t.Fatalf("undrain: %v\n%s", err, out)
	}
	vc.waitHolder(10*time.Second, "n1")

	// Three attempts, three audit lines, in order.
	f, err := os.Open(audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []cim.AuditEntry
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var e cim.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		got = append(got, e)
	}
	want := []struct{ user, result string }{{"vera", "denied"}, {"olga", "4096"}, {"olga", "4096"}}
	if len(got) != len(want) {
		t.Fatalf("audit log has %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.User != w.user || !strings.HasPrefix(e.Result, w.result) || !strings.Contains(e.Action, "RequestStateChange") ||
			!strings.Contains(e.Target, "n1") || e.Source == "" || e.Time.IsZero() {
			t.Errorf("audit entry %d = %+v, want %s %s on n1", i, e, w.user, w.result)
		}
	}
}

func groupOwner(v model.View, group string) string {
	for _, g := range v.VIPGroups {
		if g.Name == group {
			return g.Owner
		}
	}
	return ""
}

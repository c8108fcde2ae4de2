package cim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/droverha/drover/internal/golden"
	"github.com/droverha/drover/internal/snmptest"
	"github.com/google/go-cmp/cmp"
)

// TestCIMXMLWbemcli runs SBLIM's wbemcli (Debian package sblim-wbemcli)
// against the handler serving the three-node fixture and compares what
// it prints with testdata/cimxml/wbemcli_*.golden.
func TestCIMXMLWbemcli(t *testing.T) {
	bin, err := exec.LookPath("wbemcli")
	if err != nil {
		t.Skip("wbemcli not installed (Debian: sblim-wbemcli)")
	}
	m := Build(snmptest.ThreeNodeView())
	runner := &xmlFakeRunner{ret: 4096}
	h := CIMXMLHandler(func() Model { return m }, runner, nil)
	// The server's authentication puts the principal in the context.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cimom" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), Principal{User: "op", Role: RoleOperator, Source: r.RemoteAddr})))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	base := "http://op:secret@" + host + "/root/drover"
	dir1 := base + `:DRV_Node.CreationClassName="DRV_Node",Name="dir1"`
	tests := []struct {
		name string
		args []string
		fail bool // wbemcli exits 16: the CIM error is the output
	}{
		{"ecn", []string{"ecn", base + ":CIM_EnabledLogicalElement"}, false},
		{"ein", []string{"ein", base + ":DRV_Node"}, false},
		{"ei", []string{"ei", "-nl", base + ":DRV_Node"}, false},
		{"ei_realservers", []string{"ei", base + ":DRV_RealServer", "Name,EnabledState,Weight"}, false},
		{"gi", []string{"gi", "-nl", "-t", dir1}, false},
		{"ai", []string{"ai", "-ac", "CIM_ParticipatingCS", dir1, "Name,ElementName"}, false},
		{"ain", []string{"ain", dir1}, false},
		{"ri", []string{"ri", "-arc", "CIM_ParticipatingCS", dir1}, false},
		{"rin", []string{"rin", dir1}, false},
		{"gc", []string{"gc", base + ":DRV_Node"}, false},
		{"cm", []string{"cm", base + `:DRV_Node.CreationClassName="DRV_Node",Name="dir2"`, "RequestStateChange.RequestedState=2"}, false},
		{"gi_notfound", []string{"gi", base + `:DRV_Node.CreationClassName="DRV_Node",Name="web9"`}, true},
		{"ei_badclass", []string{"ei", base + ":DRV_Nope"}, true},
		{"ei_namespace", []string{"ei", "http://" + host + "/root/cimv2:DRV_Node"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tt.args...)
			cmd.Env = []string{"LANG=C", "PATH=/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.fail {
				t.Fatalf("wbemcli %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
			got := strings.NewReplacer(host, "HOST:PORT", bin, "wbemcli").Replace(string(out))
			golden.Compare(t, xmlUpdating(), filepath.Join("testdata/cimxml", "wbemcli_"+tt.name+".golden"), []byte(got))
		})
	}
	want := []xmlFakeCall{{
		Principal: Principal{User: "op", Role: RoleOperator},
		Path:      ObjectPath{Namespace: Namespace, Class: "DRV_Node", Keys: []KeyBinding{{"CreationClassName", "DRV_Node"}, {"Name", "dir2"}}},
		Method:    "RequestStateChange",
		In:        map[string]Value{"RequestedState": uint16(2)},
	}}
	calls := runner.Calls()
	for i := range calls {
		calls[i].Principal.Source = ""
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("method calls (-want +got):\n%s", diff)
	}
}

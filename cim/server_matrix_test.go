package cim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"

	"github.com/google/go-cmp/cmp"

	"github.com/droverha/drover/internal/snmptest"
	"github.com/droverha/drover/model"
)

// recordingInvoker is an Invoker that changes nothing and remembers every
// call, so a test can tell which requests were carried out.
type recordingInvoker struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordingInvoker) record(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

func (r *recordingInvoker) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recordingInvoker) DrainNode(_ context.Context, node string, drain bool) error {
	r.record("DrainNode %s %t", node, drain)
	return nil
}

func (r *recordingInvoker) MoveVIPGroup(_ context.Context, group, node string) error {
	r.record("MoveVIPGroup %s %s", group, node)
	return nil
}

// SetRealServerAdmin is here for when Invoker has it (real servers'
// administrative state); until then it is an unused extra method.
func (r *recordingInvoker) SetRealServerAdmin(_ context.Context, service, address, state string) error {
	r.record("SetRealServerAdmin %s %s %s", service, address, state)
	return nil
}

var _ Invoker = (*recordingInvoker)(nil)

// matrixView is ThreeNodeView with dir2 not drained, so that the web
// group can fail over to dir2 and an allowed Failover reaches the Invoker
// (in ThreeNodeView itself no other candidate of web is usable, and
// Failover returns 2 without asking the cluster for anything).
func matrixView() model.View {
	v := snmptest.ThreeNodeView()
	v.Nodes = append([]model.Node(nil), v.Nodes...)
	for i := range v.Nodes {
		if v.Nodes[i].Name == "dir2" {
			v.Nodes[i].Drained = false
		}
	}
	return v
}

// realServer builds a server with the real REST and CIM-XML handlers over
// Build of view, methods through inv, the users file holding users and
// the audit log at auditFile (in the test's directory when "").
func realServer(t *testing.T, users, auditFile string, view func() model.View, inv Invoker) *Server {
	t.Helper()
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users")
	if err := os.WriteFile(usersFile, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	if auditFile == "" {
		auditFile = filepath.Join(dir, "audit.log")
	}
	s, err := NewServer(ServerConfig{
		Listen: "127.0.0.1:0", UsersFile: usersFile, AuditFile: auditFile,
		View:     view,
		Invoker:  inv,
		Snapshot: func(v model.View) Model { return Build(v) },
		Handlers: func(d HandlerDeps) (http.Handler, http.Handler) {
			m := NewMethods(d.Model, d.Invoker, d.Audit)
			return RESTHandler(d.Model, m, d.Logger), CIMXMLHandler(d.Model, m, d.Logger)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	return s
}

// matrixUsers is a users file with one user per role, each with a
// password "<role>-pw" and the API token tokens[role].
func matrixUsers(t *testing.T) (file string, tokens map[string]string) {
	tokens = map[string]string{}
	var b strings.Builder
	for _, role := range []string{"viewer", "operator", "admin"} {
		tok, cred, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		tokens[role] = tok
		fmt.Fprintf(&b, "%s:%s:%s\n%s:%s:%s\n", role, role, testHash(t, role+"-pw"), role, role, cred)
	}
	return b.String(), tokens
}

const (
	dir1XMLPath   = `<INSTANCENAME CLASSNAME="DRV_Node"><KEYBINDING NAME="CreationClassName"><KEYVALUE VALUETYPE="string">DRV_Node</KEYVALUE></KEYBINDING><KEYBINDING NAME="Name"><KEYVALUE VALUETYPE="string">dir1</KEYVALUE></KEYBINDING></INSTANCENAME>`
	webSetXMLPath = `<INSTANCENAME CLASSNAME="DRV_VIPRedundancySet"><KEYBINDING NAME="InstanceID"><KEYVALUE VALUETYPE="string">Drover:farm:vipgroup:web</KEYVALUE></KEYBINDING></INSTANCENAME>`
	xmlNamespace  = `<LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="drover"/></LOCALNAMESPACEPATH>`
)

// xmlMethodCall is a METHODCALL request on the instance inst.
func xmlMethodCall(method, inst, params string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<CIM CIMVERSION="2.0" DTDVERSION="2.0">
 <MESSAGE ID="1001" PROTOCOLVERSION="1.0">
  <SIMPLEREQ>
   <METHODCALL NAME="` + method + `">
    <LOCALINSTANCEPATH>` + xmlNamespace + inst + `</LOCALINSTANCEPATH>
    ` + params + `
   </METHODCALL>
  </SIMPLEREQ>
 </MESSAGE>
</CIM>
`
}

const xmlEnumerateNodes = `<?xml version="1.0" encoding="utf-8"?>
<CIM CIMVERSION="2.0" DTDVERSION="2.0">
 <MESSAGE ID="1001" PROTOCOLVERSION="1.0">
  <SIMPLEREQ>
   <IMETHODCALL NAME="EnumerateInstances">
    ` + xmlNamespace + `
    <IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="DRV_Node"/></IPARAMVALUE>
   </IMETHODCALL>
  </SIMPLEREQ>
 </MESSAGE>
</CIM>
`

// xmlRequestHeaders are the DSP0200 headers of a CIM-XML request.
func xmlRequestHeaders(method, object string) map[string]string {
	return map[string]string{
		"Content-Type":       `application/xml; charset="utf-8"`,
		"CIMOperation":       "MethodCall",
		"CIMProtocolVersion": "1.0",
		"CIMMethod":          method,
		"CIMObject":          url.PathEscape(object),
	}
}

// matrixAction is one kind of request of the role matrix.
type matrixAction struct {
	name         string
	method, path string
	body         string
	header       map[string]string
	kind         string // "read", "rest-method" or "xml-method"
	// audit is the action of the audit entry a method call makes, target
	// its target; "" for reads.
	audit, target string
	// invokes is the Invoker call an allowed method makes ("" for none).
	invokes string
	// ret is the return code an allowed method gives; -1: not pinned.
	ret int
}

var (
	xmlReturnRE = regexp.MustCompile(`<RETURNVALUE PARAMTYPE="uint32"><VALUE>(\d+)</VALUE></RETURNVALUE>`)
	xmlErrorRE  = regexp.MustCompile(`<ERROR CODE="(\d+)"`)
)

// matrixOutcome is what a request got: the golden cell, whether it was
// let through to a method (allowed) and its return code.
type matrixOutcome struct {
	cell    string
	allowed bool
	ret     int
}

// TestServerRoleMatrixRealHandlers asks as every kind of caller (none,
// bad credentials, each role by password and by token) for every kind of
// action over a real Server with the real REST and CIM-XML handlers and
// Methods, and checks the answers (testdata/role-matrix.golden, -update
// rewrites it), which calls reached the Invoker, the audit log and the
// authentication failure metric.
func TestServerRoleMatrixRealHandlers(t *testing.T) {
	users, tokens := matrixUsers(t)
	inv := &recordingInvoker{}
	s := realServer(t, users, "", matrixView, inv)
	base := "http://" + s.Addr().String()
	auditFile := s.Auditor().Path()

	type subject struct {
		name string
		user string // the audit log's user; "" when not authenticated
		role Role
		auth func(*http.Request)
	}
	basic := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	subjects := []subject{
		{"no credentials", "", 0, nil},
		{"wrong password", "", 0, basic("operator", "not-the-pw")},
		{"unknown token", "", 0, bearer("drv_not-a-token")},
		{"viewer basic", "viewer", RoleViewer, basic("viewer", "viewer-pw")},
		{"viewer token", "viewer", RoleViewer, bearer(tokens["viewer"])},
		{"operator basic", "operator", RoleOperator, basic("operator", "operator-pw")},
		{"operator token", "operator", RoleOperator, bearer(tokens["operator"])},
		{"admin basic", "admin", RoleAdmin, basic("admin", "admin-pw")},
		{"admin token", "admin", RoleAdmin, bearer(tokens["admin"])},
	}

	// The web group's redundancy set, found as a client would.
	setID := func() string {
		req, _ := http.NewRequest("GET", base+"/cim/v1/DRV_VIPRedundancySet?VIPGroup=web", nil)
		req.SetBasicAuth("viewer", "viewer-pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list struct {
			Instances []struct{ ID string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Instances) != 1 {
			t.Fatalf("DRV_VIPRedundancySet?VIPGroup=web: %d %v %+v", resp.StatusCode, err, list)
		}
		return list.Instances[0].ID
	}()
	if setID != "Drover:farm:vipgroup:web" {
		t.Errorf("web's redundancy set is %q, docs/cim.md says Drover:farm:vipgroup:web", setID)
	}

	const (
		dir1Target = `root/drover:DRV_Node.CreationClassName="DRV_Node",Name="dir1"`
		webTarget  = `root/drover:DRV_VIPRedundancySet.InstanceID="Drover:farm:vipgroup:web"`
		rsTarget   = `root/drover:DRV_RealServer.SystemCreationClassName="DRV_Cluster",SystemName="farm",CreationClassName="DRV_RealServer",Name="web-http/198.51.100.21:80"`
	)
	actions := []matrixAction{
		{name: "REST read", method: "GET", path: "/cim/v1/DRV_Node", kind: "read"},
		{name: "REST instance", method: "GET", path: "/cim/v1/DRV_Node/dir1", kind: "read"},
		{name: "CIM-XML read", method: "POST", path: "/cimom", body: xmlEnumerateNodes,
			header: xmlRequestHeaders("EnumerateInstances", "root/drover"), kind: "read"},
		{name: "metrics", method: "GET", path: "/metrics", kind: "read"},
		{name: "REST drain dir1", method: "POST", path: "/cim/v1/DRV_Node/dir1/RequestStateChange", body: `{"RequestedState":6}`,
			kind: "rest-method", audit: "DRV_Node.RequestStateChange(6)", target: dir1Target, invokes: "DrainNode dir1 true", ret: 4096},
		{name: "CIM-XML drain dir1", method: "POST", path: "/cimom",
			body:   xmlMethodCall("RequestStateChange", dir1XMLPath, `<PARAMVALUE NAME="RequestedState" PARAMTYPE="uint16"><VALUE>6</VALUE></PARAMVALUE>`),
			header: xmlRequestHeaders("RequestStateChange", `root/drover:DRV_Node.CreationClassName="DRV_Node",Name="dir1"`),
			kind:   "xml-method", audit: "DRV_Node.RequestStateChange(6)", target: dir1Target, invokes: "DrainNode dir1 true", ret: 4096},
		{name: "REST failover web", method: "POST", path: "/cim/v1/DRV_VIPRedundancySet/" + url.PathEscape(setID) + "/Failover", body: `{}`,
			kind: "rest-method", audit: "DRV_VIPRedundancySet.Failover()", target: webTarget, invokes: "MoveVIPGroup web dir2", ret: 0},
		{name: "CIM-XML failover web", method: "POST", path: "/cimom",
			body:   xmlMethodCall("Failover", webSetXMLPath, ""),
			header: xmlRequestHeaders("Failover", `root/drover:DRV_VIPRedundancySet.InstanceID="Drover:farm:vipgroup:web"`),
			kind:   "xml-method", audit: "DRV_VIPRedundancySet.Failover()", target: webTarget, invokes: "MoveVIPGroup web dir2", ret: 0},
		// What a real server's state change returns and does is not
		// pinned (1 Not Supported, or 4096 once the bus has an
		// administrative state for real servers); only who may ask.
		{name: "REST real server", method: "POST", path: "/cim/v1/DRV_RealServer/" + url.PathEscape("web-http/198.51.100.21:80") + "/RequestStateChange",
			body: `{"RequestedState":3}`, kind: "rest-method", audit: "DRV_RealServer.RequestStateChange(3)", target: rsTarget, ret: -1},
	}

	do := func(sub subject, a matrixAction) (*http.Response, []byte) {
		t.Helper()
		var body io.Reader
		if a.body != "" {
			body = strings.NewReader(a.body)
		}
		req, err := http.NewRequest(a.method, base+a.path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range a.header {
			req.Header.Set(k, v)
		}
		if sub.auth != nil {
			sub.auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	// classify renders what a request got and checks that it is well
	// formed for its kind.
	classify := func(sub subject, a matrixAction, resp *http.Response, b []byte) matrixOutcome {
		t.Helper()
		where := sub.name + " / " + a.name
		if resp.StatusCode == http.StatusUnauthorized {
			if wa := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Basic ") {
				t.Errorf("%s: 401 with WWW-Authenticate %q", where, wa)
			}
			return matrixOutcome{cell: "401 (WWW-Authenticate: Basic)"}
		}
		switch a.kind {
		case "read":
			ok := resp.StatusCode == 200
			switch {
			case a.path == "/metrics":
				ok = ok && bytes.Contains(b, []byte("drover_epoch 17"))
			case a.path == "/cimom":
				ok = ok && bytes.Contains(b, []byte(`<INSTANCE CLASSNAME="DRV_Node"`)) && !bytes.Contains(b, []byte("<ERROR"))
			default:
				ok = ok && json.Valid(b) && bytes.Contains(b, []byte(`"class":"DRV_Node","id":"dir1"`))
			}
			if !ok {
				t.Errorf("%s: %d %.300s", where, resp.StatusCode, b)
			}
			return matrixOutcome{cell: strconv.Itoa(resp.StatusCode)}
		case "rest-method":
			if resp.StatusCode != 200 {
				var e struct {
					Code        int
					Name        string
					Description string
				}
				if err := json.Unmarshal(b, &e); err != nil {
					t.Errorf("%s: %d, not a CIM error: %.300s", where, resp.StatusCode, b)
				}
				return matrixOutcome{cell: fmt.Sprintf("%d %s", resp.StatusCode, e.Name)}
			}
			var r struct{ ReturnValue *int }
			if err := json.Unmarshal(b, &r); err != nil || r.ReturnValue == nil {
				t.Errorf("%s: 200 without a ReturnValue: %.300s", where, b)
				return matrixOutcome{cell: "200 ?"}
			}
			cell := fmt.Sprintf("200 ReturnValue %d", *r.ReturnValue)
			if a.ret < 0 {
				cell = "200 ReturnValue (allowed; value not pinned)"
			}
			return matrixOutcome{cell: cell, allowed: true, ret: *r.ReturnValue}
		case "xml-method":
			if resp.StatusCode != 200 || resp.Header.Get("CIMOperation") != "MethodResponse" {
				t.Errorf("%s: %d CIMOperation %q CIMError %q: %.300s", where, resp.StatusCode,
					resp.Header.Get("CIMOperation"), resp.Header.Get("CIMError"), b)
				return matrixOutcome{cell: strconv.Itoa(resp.StatusCode)}
			}
			if m := xmlErrorRE.FindSubmatch(b); m != nil {
				code, _ := strconv.Atoi(string(m[1]))
				name := cimErrNames[code]
				if name == "" {
					name = "CIM_ERR_" + string(m[1])
				}
				return matrixOutcome{cell: "200 ERROR " + name}
			}
			m := xmlReturnRE.FindSubmatch(b)
			if m == nil {
				t.Errorf("%s: neither ERROR nor RETURNVALUE: %.300s", where, b)
				return matrixOutcome{cell: "200 ?"}
			}
			ret, _ := strconv.Atoi(string(m[1]))
			return matrixOutcome{cell: "200 RETURNVALUE " + string(m[1]), allowed: true, ret: ret}
		}
		t.Fatalf("unknown kind %q", a.kind)
		return matrixOutcome{}
	}

	var (
		rows      [][3]string
		wantCalls []string
		wantAudit []AuditEntry
	)
	// Action by action, subject by subject: a successful login between
	// two failures from the same source (all come from 127.0.0.1) keeps
	// the failures from adding up to a hold-off (429), which is tested in
	// auth_test.go.
	results := map[[2]int]matrixOutcome{}
	for ai, a := range actions {
		for si, sub := range subjects {
			resp, b := do(sub, a)
			o := classify(sub, a, resp, b)
			results[[2]int{si, ai}] = o
			where := sub.name + " / " + a.name

			// The rule the golden must follow, whatever -update writes.
			switch {
			case sub.role == 0:
				if resp.StatusCode != 401 {
					t.Errorf("%s: %d, want 401", where, resp.StatusCode)
				}
			case a.kind == "read":
				if resp.StatusCode != 200 {
					t.Errorf("%s: %d, want 200", where, resp.StatusCode)
				}
			case sub.role == RoleViewer:
				want := map[string]string{"rest-method": "403 CIM_ERR_ACCESS_DENIED", "xml-method": "200 ERROR CIM_ERR_ACCESS_DENIED"}[a.kind]
				if o.cell != want {
					t.Errorf("%s: %s, want %s", where, o.cell, want)
				}
			default:
				if !o.allowed {
					t.Errorf("%s: %s, want a return value", where, o.cell)
				} else if a.ret >= 0 && o.ret != a.ret {
					t.Errorf("%s: returned %d, want %d", where, o.ret, a.ret)
				}
			}

			if a.audit != "" && sub.role != 0 {
				e := AuditEntry{User: sub.user, Action: a.audit, Target: a.target, Result: "denied"}
				if o.allowed {
					e.Result = strconv.Itoa(o.ret)
					if a.ret < 0 && o.ret == 4096 {
						wantCalls = append(wantCalls, "SetRealServerAdmin web-http 198.51.100.21:80 *")
					}
				}
				wantAudit = append(wantAudit, e)
			}
			if o.allowed && a.invokes != "" {
				wantCalls = append(wantCalls, a.invokes)
			}
		}
	}
	for si, sub := range subjects {
		for ai, a := range actions {
			rows = append(rows, [3]string{sub.name, a.name, results[[2]int{si, ai}].cell})
		}
	}

	// The golden table.
	var golden bytes.Buffer
	golden.WriteString("# The role matrix of the CIM face (TestServerRoleMatrixRealHandlers):\n" +
		"# subject, action, HTTP status and CIM outcome. Regenerate with\n" +
		"# go test ./cim -run RoleMatrixRealHandlers -update\n\n")
	tw := tabwriter.NewWriter(&golden, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBJECT\tACTION\tRESULT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r[0], r[1], r[2])
	}
	tw.Flush()
	const goldenFile = "testdata/role-matrix.golden"
	if updateGolden() {
		if err := os.WriteFile(goldenFile, golden.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want, err := os.ReadFile(goldenFile); err != nil {
		t.Errorf("%v (run with -update)", err)
	} else if diff := cmp.Diff(string(want), golden.String()); diff != "" {
		t.Errorf("role matrix differs from %s (-want +got):\n%s", goldenFile, diff)
	}

	// The Invoker was asked exactly for the allowed calls.
	gotCalls := inv.Calls()
	for i, c := range gotCalls {
		if i < len(wantCalls) && strings.HasSuffix(wantCalls[i], " *") && strings.HasPrefix(c, strings.TrimSuffix(wantCalls[i], "*")) {
			gotCalls[i] = wantCalls[i]
		}
	}
	if diff := cmp.Diff(wantCalls, gotCalls); diff != "" {
		t.Errorf("Invoker calls (-want +got):\n%s", diff)
	}

	// One audit line per method call that got past authentication,
	// allowed or denied, and none for the others.
	got := readAudit(t, auditFile)
	if len(got) != len(wantAudit) {
		t.Errorf("%d audit entries, want %d", len(got), len(wantAudit))
	}
	for i, e := range got {
		if e.Time.IsZero() || !strings.HasPrefix(e.Source, "127.0.0.1:") {
			t.Errorf("audit entry %d: time %v, source %q", i, e.Time, e.Source)
		}
		// "4096", "1 (no administrative state ...)", "0 (web to dir2)"
		if i < len(wantAudit) && wantAudit[i].Result != "denied" && strings.HasPrefix(e.Result, wantAudit[i].Result+" (") {
			e.Result = wantAudit[i].Result
		}
		got[i] = AuditEntry{User: e.User, Action: e.Action, Target: e.Target, Result: e.Result}
	}
	if diff := cmp.Diff(wantAudit, got); diff != "" {
		t.Errorf("audit log (-want +got):\n%s", diff)
	}
	denied := 0
	for _, e := range wantAudit {
		if e.Result == "denied" {
			denied++
			if e.User != "viewer" {
				t.Errorf("%s denied", e.User)
			}
		}
	}
	methods := 0
	for _, a := range actions {
		if a.audit != "" {
			methods++
		}
	}
	// viewer ×2 denied, operator ×2 and admin ×2 allowed
	if denied != 2*methods || len(wantAudit) != 6*methods {
		t.Errorf("%d audit entries expected, %d of them denied; want %d, %d", len(wantAudit), denied, 6*methods, 2*methods)
	}

	// Bad credentials are counted by scheme; no credentials at all are
	// not a failure.
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	failures := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "drover_cim_auth_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "scheme" {
					failures[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	n := float64(len(actions))
	if diff := cmp.Diff(map[string]float64{"basic": n, "bearer": n, "other": 0}, failures); diff != "" {
		t.Errorf("drover_cim_auth_failures_total (-want +got):\n%s", diff)
	}
	// The same through /metrics, as an admin sees it.
	resp, b := do(subjects[7], matrixAction{method: "GET", path: "/metrics"})
	if want := fmt.Sprintf(`drover_cim_auth_failures_total{scheme="basic"} %d`, len(actions)); resp.StatusCode != 200 || !bytes.Contains(b, []byte(want)) {
		t.Errorf("/metrics as admin: %d, no %q", resp.StatusCode, want)
	}
}

// TestServerAuditFailureRefusesRealMethods: with the real handlers and
// Methods, an audit log that cannot be written (/dev/full: open works,
// every write fails) makes an operator's method calls fail with an error
// and never reach the Invoker; a viewer is still denied.
func TestServerAuditFailureRefusesRealMethods(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	if f, err := os.OpenFile("/dev/full", os.O_WRONLY|os.O_APPEND, 0); err != nil {
		t.Skipf("cannot open /dev/full: %v", err)
	} else {
		f.Close()
	}
	users, _ := matrixUsers(t)
	inv := &recordingInvoker{}
	s := realServer(t, users, "/dev/full", matrixView, inv)
	base := "http://" + s.Addr().String()
	send := func(user, path, body string, header map[string]string) (int, string) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		req.SetBasicAuth(user, user+"-pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, user := range []string{"operator", "admin"} {
		code, body := send(user, "/cim/v1/DRV_Node/dir1/RequestStateChange", `{"RequestedState":6}`, nil)
		if code != 500 || !strings.Contains(body, `"CIM_ERR_FAILED"`) || !strings.Contains(body, "audit log") {
			t.Errorf("%s REST drain with the audit log full: %d %s", user, code, body)
		}
		code, body = send(user, "/cim/v1/DRV_VIPRedundancySet/Drover:farm:vipgroup:web/Failover", `{}`, nil)
		if code != 500 || !strings.Contains(body, "audit log") {
			t.Errorf("%s REST failover with the audit log full: %d %s", user, code, body)
		}
		code, body = send(user, "/cimom",
			xmlMethodCall("RequestStateChange", dir1XMLPath, `<PARAMVALUE NAME="RequestedState" PARAMTYPE="uint16"><VALUE>6</VALUE></PARAMVALUE>`),
			xmlRequestHeaders("RequestStateChange", `root/drover:DRV_Node.CreationClassName="DRV_Node",Name="dir1"`))
		if code != 200 || !strings.Contains(body, `<ERROR CODE="1"`) || !strings.Contains(body, "audit log") || strings.Contains(body, "<RETURNVALUE") {
			t.Errorf("%s CIM-XML drain with the audit log full: %d %s", user, code, body)
		}
	}
	if code, body := send("viewer", "/cim/v1/DRV_Node/dir1/RequestStateChange", `{"RequestedState":6}`, nil); code != 403 {
		t.Errorf("viewer with the audit log full: %d %s, want 403", code, body)
	}
	if calls := inv.Calls(); len(calls) != 0 {
		t.Errorf("carried out without an audit entry: %q", calls)
	}
}

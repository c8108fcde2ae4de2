package cim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/droverha/drover/internal/snmptest"
)

// fakeInvoker records what it was asked.
type fakeInvoker struct {
	mu    sync.Mutex // guards calls
	calls []string
	err   error
}

var _ Invoker = (*fakeInvoker)(nil)

func (f *fakeInvoker) DrainNode(_ context.Context, node string, drain bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("drain %s %v", node, drain))
	return f.err
}

func (f *fakeInvoker) MoveVIPGroup(_ context.Context, group, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("move %s %s", group, node))
	return f.err
}

func (f *fakeInvoker) SetRealServerAdmin(_ context.Context, service, address, state string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("admin %s %s %s", service, address, state))
	return f.err
}

func (f *fakeInvoker) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// recordingAuditor keeps the entries; err makes Record fail.
type recordingAuditor struct {
	mu      sync.Mutex // guards entries
	entries []AuditEntry
	err     error
}

func (a *recordingAuditor) Record(_ context.Context, e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	a.entries = append(a.entries, e)
	return nil
}

func (a *recordingAuditor) Entries() []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AuditEntry(nil), a.entries...)
}

func methodsFixture() (*Methods, *fakeInvoker, *recordingAuditor) {
	s := Build(snmptest.ThreeNodeView())
	inv, audit := &fakeInvoker{}, &recordingAuditor{}
	return NewMethods(func() Model { return s }, inv, audit), inv, audit
}

var (
	webSet  = ObjectPath{Namespace: Namespace, Class: "DRV_VIPRedundancySet", Keys: []KeyBinding{{Name: "InstanceID", Value: "Drover:farm:vipgroup:web"}}}
	mailSet = ObjectPath{Namespace: Namespace, Class: "DRV_VIPRedundancySet", Keys: []KeyBinding{{Name: "InstanceID", Value: "Drover:farm:vipgroup:mail"}}}
	rs21    = ObjectPath{Namespace: Namespace, Class: "DRV_RealServer", Keys: keysOf("DRV_Cluster", "farm", "DRV_RealServer", "web-http/198.51.100.21:80")}
)

// Who may call what: viewers nothing, operators and admins everything;
// no principal is refused. Every call, allowed or denied, is audited.
func TestCIMMethodsRoleMatrix(t *testing.T) {
	calls := []struct {
		name   string
		path   ObjectPath
		method string
		in     map[string]Value
		ret    uint32
		did    []string
	}{
		{"drain dir1", nodePathOf("dir1"), "RequestStateChange", map[string]Value{"RequestedState": ReqOffline}, RSCJobStarted, []string{"drain dir1 true"}},
		{"failover web", webSet, "Failover", map[string]Value{"FailoverTo": nodePathOf("dir1")}, FailoverCompleted, nil},
		{"real server", rs21, "RequestStateChange", map[string]Value{"RequestedState": ReqDisabled}, RSCJobStarted, []string{"admin web-http 198.51.100.21:80 disabled"}},
	}
	principals := []struct {
		name    string
		p       *Principal
		allowed bool
	}{
		{"none", nil, false},
		{"viewer", &Principal{User: "vera", Role: RoleViewer, Source: "192.0.2.1"}, false},
		{"operator", &Principal{User: "olga", Role: RoleOperator, Source: "192.0.2.2"}, true},
		{"admin", &Principal{User: "adam", Role: RoleAdmin, Source: "192.0.2.3"}, true},
	}
	for _, c := range calls {
		for _, pr := range principals {
			t.Run(c.name+"/"+pr.name, func(t *testing.T) {
				m, inv, audit := methodsFixture()
				ctx := context.Background()
				if pr.p != nil {
					ctx = WithPrincipal(ctx, *pr.p)
				}
				ret, _, err := m.Invoke(ctx, c.path, c.method, c.in)
				es := audit.Entries()
				if len(es) != 1 {
					t.Fatalf("%d audit entries, want 1: %+v", len(es), es)
				}
				e := es[0]
				if pr.p != nil && (e.User != pr.p.User || e.Source != pr.p.Source) {
					t.Errorf("audit entry names %q from %q", e.User, e.Source)
				}
				if !strings.HasPrefix(e.Action, c.path.Class+"."+c.method+"(") || e.Target == "" {
					t.Errorf("audit action %q target %q", e.Action, e.Target)
				}
				if !pr.allowed {
					if code(err) != ErrAccessDenied || e.Result != "denied" || len(inv.Calls()) != 0 {
						t.Errorf("err %v, audit %q, calls %v; want access denied, nothing done", err, e.Result, inv.Calls())
					}
					return
				}
				if err != nil || ret != c.ret {
					t.Fatalf("Invoke = %d, %v; want %d", ret, err, c.ret)
				}
				if !strings.HasPrefix(e.Result, fmt.Sprint(c.ret)) {
					t.Errorf("audit result %q, want %d", e.Result, c.ret)
				}
				if diff := cmp.Diff(c.did, inv.Calls()); diff != "" {
					t.Errorf("invoker calls (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// RequestStateChange on DRV_Node: what each state does and returns.
func TestCIMMethodsRequestStateChangeNode(t *testing.T) {
	op := WithPrincipal(context.Background(), Principal{User: "olga", Role: RoleOperator})
	for _, c := range []struct {
		name string
		node string
		in   map[string]Value
		ret  uint32
		did  []string
	}{
		{"drain (Offline)", "dir1", map[string]Value{"RequestedState": ReqOffline}, RSCJobStarted, []string{"drain dir1 true"}},
		{"drain (Quiesce), JSON number", "dir1", map[string]Value{"requestedstate": float64(9)}, RSCJobStarted, []string{"drain dir1 true"}},
		{"undrain", "dir2", map[string]Value{"RequestedState": ReqEnabled}, RSCJobStarted, []string{"drain dir2 false"}},
		{"enable what is enabled", "dir1", map[string]Value{"RequestedState": ReqEnabled}, RSCCompleted, nil},
		{"drain what is drained", "dir2", map[string]Value{"RequestedState": ReqOffline}, RSCCompleted, nil},
		{"disable", "dir1", map[string]Value{"RequestedState": ReqDisabled}, RSCInvalidTransition, nil},
		{"reboot", "dir1", map[string]Value{"RequestedState": ReqReboot}, RSCInvalidTransition, nil},
		{"no change", "dir1", map[string]Value{"RequestedState": ReqNoChange}, RSCCompleted, nil},
		{"not a state", "dir1", map[string]Value{"RequestedState": uint16(42)}, RSCInvalidParameter, nil},
		{"missing", "dir1", map[string]Value{}, RSCInvalidParameter, nil},
		{"timeout", "dir1", map[string]Value{"RequestedState": ReqOffline, "TimeoutPeriod": "00000000000030.000000:000"}, RSCTimeoutUnsupported, nil},
		{"zero timeout", "dir1", map[string]Value{"RequestedState": ReqOffline, "TimeoutPeriod": "00000000000000.000000:000"}, RSCJobStarted, []string{"drain dir1 true"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, inv, audit := methodsFixture()
			ret, out, err := m.Invoke(op, nodePathOf(c.node), "RequestStateChange", c.in)
			if err != nil || ret != c.ret {
				t.Fatalf("Invoke = %d, %v; want %d", ret, err, c.ret)
			}
			if _, ok := out["Job"]; !ok || out["Job"] != nil {
				t.Errorf("out = %v, want Job NULL", out)
			}
			if diff := cmp.Diff(c.did, inv.Calls()); diff != "" {
				t.Errorf("invoker calls (-want +got):\n%s", diff)
			}
			if len(audit.Entries()) != 1 {
				t.Errorf("audit entries: %+v", audit.Entries())
			}
		})
	}
	// The invoker failing: 4 Failed, audited twice (attempt and failure).
	m, inv, audit := methodsFixture()
	inv.err = errors.New("no bus")
	ret, _, err := m.Invoke(op, nodePathOf("dir1"), "RequestStateChange", map[string]Value{"RequestedState": ReqOffline})
	if err != nil || ret != RSCFailed {
		t.Errorf("with the bus down: %d, %v; want 4", ret, err)
	}
	if es := audit.Entries(); len(es) != 2 || !strings.Contains(es[1].Result, "no bus") {
		t.Errorf("audit: %+v", es)
	}
	// A bad parameter name is a CIM error.
	if _, _, err := m.Invoke(op, nodePathOf("dir1"), "RequestStateChange", map[string]Value{"Force": true}); code(err) != ErrInvalidParameter {
		t.Errorf("unknown parameter: %v", err)
	}
	if _, _, err := m.Invoke(op, nodePathOf("dir1"), "Reboot", nil); code(err) != ErrMethodNotFound {
		t.Errorf("unknown method: %v", err)
	}
	if _, _, err := m.Invoke(op, nodePathOf("dir9"), "RequestStateChange", nil); code(err) != ErrNotFound {
		t.Errorf("unknown node: %v", err)
	}
}

func TestCIMMethodsFailover(t *testing.T) {
	op := WithPrincipal(context.Background(), Principal{User: "olga", Role: RoleOperator})
	s := Build(snmptest.ThreeNodeView())
	for _, c := range []struct {
		name string
		set  ObjectPath
		in   map[string]Value
		ret  uint32
		did  []string
	}{
		// dir2, the only other candidate, is drained in the fixture.
		{"best other: none usable", webSet, nil, FailoverUnknownError, nil},
		{"to the drained dir2", webSet, map[string]Value{"FailoverTo": nodePathOf("dir2")}, FailoverParamError, nil},
		{"to the owner", webSet, map[string]Value{"FailoverTo": nodePathOf("dir1")}, FailoverCompleted, nil},
		{"to a non-candidate", webSet, map[string]Value{"FailoverTo": nodePathOf("web1")}, FailoverParamError, nil},
		{"to a set", webSet, map[string]Value{"FailoverTo": mailSet}, FailoverParamError, nil},
		{"from a non-owner", webSet, map[string]Value{"FailoverFrom": nodePathOf("dir2")}, FailoverParamError, nil},
		{"mail: its candidate is dead", mailSet, nil, FailoverUnknownError, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv, audit := &fakeInvoker{}, &recordingAuditor{}
			m := NewMethods(func() Model { return s }, inv, audit)
			ret, _, err := m.Invoke(op, c.set, "Failover", c.in)
			if err != nil || ret != c.ret {
				t.Fatalf("Failover = %d, %v; want %d (audit %+v)", ret, err, c.ret, audit.Entries())
			}
			if diff := cmp.Diff(c.did, inv.Calls()); diff != "" {
				t.Errorf("invoker calls (-want +got):\n%s", diff)
			}
		})
	}
	// Undrain dir2 in the view: Failover moves web there, by default and
	// when asked.
	v := snmptest.ThreeNodeView()
	v.Nodes[1].Drained = false
	s2 := Build(v)
	for _, in := range []map[string]Value{nil, {"FailoverTo": nodePathOf("dir2"), "FailoverFrom": nodePathOf("dir1")}} {
		inv := &fakeInvoker{}
		m := NewMethods(func() Model { return s2 }, inv, &recordingAuditor{})
		ret, _, err := m.Invoke(op, webSet, "Failover", in)
		if err != nil || ret != FailoverCompleted {
			t.Fatalf("Failover(%v) = %d, %v", in, ret, err)
		}
		if diff := cmp.Diff([]string{"move web dir2"}, inv.Calls()); diff != "" {
			t.Errorf("invoker calls (-want +got):\n%s", diff)
		}
	}
	// A handover in progress: busy.
	v.VIPGroups[0].From = "dir2"
	s3 := Build(v)
	m := NewMethods(func() Model { return s3 }, &fakeInvoker{}, &recordingAuditor{})
	if ret, _, _ := m.Invoke(op, webSet, "Failover", nil); ret != FailoverBusy {
		t.Errorf("Failover during a handover = %d, want 3", ret)
	}
}

// When the audit log cannot record a call, the call is refused and not
// carried out.
func TestCIMMethodsAuditFailureRefuses(t *testing.T) {
	m, inv, audit := methodsFixture()
	audit.err = errors.New("disk full")
	op := WithPrincipal(context.Background(), Principal{User: "olga", Role: RoleOperator})
	for _, c := range []struct {
		path   ObjectPath
		method string
		in     map[string]Value
	}{
		{nodePathOf("dir1"), "RequestStateChange", map[string]Value{"RequestedState": ReqOffline}},
		{webSet, "Failover", map[string]Value{"FailoverTo": nodePathOf("dir1")}},
	} {
		_, _, err := m.Invoke(op, c.path, c.method, c.in)
		if code(err) != ErrFailed {
			t.Errorf("%s with the audit log failing: %v, want CIM_ERR_FAILED", c.method, err)
		}
	}
	if len(inv.Calls()) != 0 {
		t.Errorf("carried out unaudited: %v", inv.Calls())
	}
}

// Methods through REST: the principal from the request, the JSON shape.
func TestRESTMethodCall(t *testing.T) {
	s := Build(snmptest.ThreeNodeView())
	inv, audit := &fakeInvoker{}, &recordingAuditor{}
	h := RESTHandler(func() Model { return s }, NewMethods(func() Model { return s }, inv, audit), quietLog())
	op := WithPrincipal(context.Background(), Principal{User: "olga", Role: RoleOperator})
	target := "/cim/v1/DRV_Node/dir1/RequestStateChange"
	rec := do(h, op, "POST", target, []byte(`{"RequestedState":6}`))
	if rec.Code != 200 || rec.Body.String() != `{"ReturnValue":4096,"ReturnValueName":"Method Parameters Checked - Job Started","out":{"Job":null}}`+"\n" {
		t.Fatalf("POST %s = %d %s", target, rec.Code, rec.Body)
	}
	validate(t, "POST", target, rec)
	rec = do(h, op, "POST", "/cim/v1/DRV_VIPRedundancySet/Drover:farm:vipgroup:web/Failover", []byte(`{"FailoverTo":{"class":"DRV_Node","id":"dir1"}}`))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"ReturnValue":0`) {
		t.Errorf("Failover = %d %s", rec.Code, rec.Body)
	}
	rec = do(h, WithPrincipal(context.Background(), Principal{User: "vera", Role: RoleViewer}), "POST", target, []byte(`{"RequestedState":2}`))
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "CIM_ERR_ACCESS_DENIED") {
		t.Errorf("viewer = %d %s", rec.Code, rec.Body)
	}
	validate(t, "POST", target, rec)
	if diff := cmp.Diff([]string{"drain dir1 true"}, inv.Calls()); diff != "" {
		t.Errorf("invoker calls (-want +got):\n%s", diff)
	}
	if n := len(audit.Entries()); n != 3 {
		t.Errorf("%d audit entries, want 3", n)
	}
}

// A real server's RequestStateChange records its administrative state:
// 2 enabled, 3 disabled, 9 quiesced; what it already is completes at once;
// other states are refused.
func TestCIMMethodsRequestStateChangeRealServer(t *testing.T) {
	op := WithPrincipal(context.Background(), Principal{User: "olga", Role: RoleOperator, Source: "192.0.2.2"})
	for _, tc := range []struct {
		state Value
		ret   uint32
		did   []string
	}{
		{ReqEnabled, RSCCompleted, nil}, // it is enabled
		{ReqDisabled, RSCJobStarted, []string{"admin web-http 198.51.100.21:80 disabled"}},
		{ReqQuiesce, RSCJobStarted, []string{"admin web-http 198.51.100.21:80 quiesced"}},
		{ReqNoChange, RSCCompleted, nil},
		{ReqOffline, RSCInvalidTransition, nil},
		{ReqReboot, RSCInvalidTransition, nil},
		{uint16(77), RSCInvalidParameter, nil},
	} {
		m, inv, audit := methodsFixture()
		ret, _, err := m.Invoke(op, rs21, "RequestStateChange", map[string]Value{"RequestedState": tc.state})
		if err != nil || ret != tc.ret {
			t.Errorf("RequestedState %v: Invoke = %d, %v; want %d", tc.state, ret, err, tc.ret)
		}
		if diff := cmp.Diff(tc.did, inv.Calls()); diff != "" {
			t.Errorf("RequestedState %v: invoker calls (-want +got):\n%s", tc.state, diff)
		}
		if es := audit.Entries(); len(es) != 1 || !strings.HasPrefix(es[0].Result, fmt.Sprint(tc.ret)) {
			t.Errorf("RequestedState %v: audit %+v", tc.state, es)
		}
	}
}

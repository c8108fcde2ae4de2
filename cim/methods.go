package cim

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Methods carries out the extrinsic methods of the model
// (DRV_Node.RequestStateChange, DRV_RealServer.RequestStateChange,
// DRV_VIPRedundancySet.Failover) through an Invoker, after checking the
// caller's role and recording the call in the audit log.
type Methods struct {
	model func() Model
	inv   Invoker
	audit Auditor
	now   func() time.Time
}

var _ MethodRunner = (*Methods)(nil)

// NewMethods returns a MethodRunner that reads the current model from
// model, asks inv for changes and records every call in audit.
func NewMethods(model func() Model, inv Invoker, audit Auditor) *Methods {
	return &Methods{model: model, inv: inv, audit: audit, now: time.Now}
}

// outcome is what a call will return, decided before it is carried out
// (so it can be audited first), and the change to make, if any.
type outcome struct {
	ret    uint32
	out    map[string]Value
	note   string                          // why, for the audit log
	act    func(ctx context.Context) error // nil when there is nothing to change
	failed uint32                          // the return code when act fails
}

func roleOf(name string) Role {
	switch name {
	case "admin":
		return RoleAdmin
	case "viewer":
		return RoleViewer
	}
	return RoleOperator
}

// Invoke checks, audits and carries out one method call.
func (m *Methods) Invoke(ctx context.Context, path ObjectPath, method string, in map[string]Value) (uint32, map[string]Value, error) {
	p, ok := PrincipalFrom(ctx)
	if err := checkModelNamespace(path.Namespace); err != nil {
		return 0, nil, err
	}
	model := m.model()
	c, found := model.Class(path.Class)
	if !found {
		return 0, nil, modelErr(ErrInvalidClass, "no class %s in %s", path.Class, Namespace)
	}
	var decl *MethodDecl
	for i := range c.Methods {
		if strings.EqualFold(c.Methods[i].Name, method) {
			decl = &c.Methods[i]
		}
	}
	if decl == nil {
		return 0, nil, modelErr(ErrMethodNotFound, "%s has no method %s", c.Name, method)
	}
	entry := AuditEntry{Time: m.now().UTC(), User: p.User, Source: p.Source,
		Action: c.Name + "." + decl.Name + "(" + describeIn(in) + ")", Target: FormatPath(path)}
	if !ok || p.Role < roleOf(decl.Role) {
		entry.Result = "denied"
		_ = m.audit.Record(ctx, entry) // denied either way
		who := "an unauthenticated caller"
		if ok {
			who = fmt.Sprintf("user %q", p.User)
		}
		return 0, nil, modelErr(ErrAccessDenied, "%s may not call %s.%s (needs role %s)", who, c.Name, decl.Name, decl.Role)
	}
	inst, err := model.Get(path)
	if err != nil {
		entry.Result = errorResult(err)
		if aerr := m.audit.Record(ctx, entry); aerr != nil {
			return 0, nil, modelErr(ErrFailed, "audit log: %v", aerr)
		}
		return 0, nil, err
	}
	entry.Target = FormatPath(model.Path(inst))
	var o outcome
	switch {
	case decl.Name == "RequestStateChange" && inst.Class == "DRV_Node":
		o, err = m.nodeStateChange(inst, in)
	case decl.Name == "RequestStateChange" && inst.Class == "DRV_RealServer":
		o, err = m.realServerStateChange(inst, in)
	case decl.Name == "RequestStateChange":
		o = outcome{ret: RSCNotSupported, out: map[string]Value{"Job": nil},
			note: "no administrative state for " + inst.Class + " yet"}
	case decl.Name == "Failover":
		o, err = m.failover(model, inst, in)
	default:
		err = modelErr(ErrMethodNotAvailable, "%s.%s is not available", inst.Class, decl.Name)
	}
	if err != nil {
		entry.Result = errorResult(err)
		if aerr := m.audit.Record(ctx, entry); aerr != nil {
			return 0, nil, modelErr(ErrFailed, "audit log: %v", aerr)
		}
		return 0, nil, err
	}
	entry.Result = strconv.FormatUint(uint64(o.ret), 10)
	if o.note != "" {
		entry.Result += " (" + o.note + ")"
	}
	if aerr := m.audit.Record(ctx, entry); aerr != nil {
		// Never carry out what the audit log does not show.
		return 0, nil, modelErr(ErrFailed, "audit log: %v", aerr)
	}
	if o.act != nil {
		if err := o.act(ctx); err != nil {
			entry.Time = m.now().UTC()
			entry.Result = fmt.Sprintf("%d (failed: %v)", o.failed, err)
			_ = m.audit.Record(ctx, entry) // the call is already audited as attempted
			return o.failed, o.out, nil
		}
	}
	return o.ret, o.out, nil
}

func errorResult(err error) string {
	if e, ok := err.(*Error); ok {
		return fmt.Sprintf("CIM_ERR %d: %s", e.Code, e.Description)
	}
	return err.Error()
}

// describeIn renders the in-parameters for the audit log, names sorted.
func describeIn(in map[string]Value) string {
	if len(in) == 1 {
		for _, v := range in {
			return formatParam(v)
		}
	}
	var parts []string
	for k, v := range in {
		parts = append(parts, k+"="+formatParam(v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func formatParam(v Value) string {
	switch x := v.(type) {
	case ObjectPath:
		return FormatPath(x)
	case nil:
		return "NULL"
	}
	return fmt.Sprint(v)
}

// param finds an in-parameter by name, case-insensitively.
func param(in map[string]Value, name string) (Value, bool) {
	for k, v := range in {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func checkParams(in map[string]Value, allowed ...string) error {
	for k := range in {
		ok := false
		for _, a := range allowed {
			ok = ok || strings.EqualFold(k, a)
		}
		if !ok {
			return modelErr(ErrInvalidParameter, "unknown parameter %s", k)
		}
	}
	return nil
}

// asUint16 accepts what the faces decode a uint16 to: uint16 (CIM-XML),
// json.Number or float64 (JSON), other integers, or a decimal string.
func asUint16(v Value) (uint16, bool) {
	var n float64
	switch x := v.(type) {
	case uint16:
		return x, true
	case uint8:
		return uint16(x), true
	case uint32:
		n = float64(x)
	case uint64:
		n = float64(x)
	case int:
		n = float64(x)
	case int64:
		n = float64(x)
	case float64:
		n = x
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, false
		}
		n = f
	case string:
		u, err := strconv.ParseUint(strings.TrimSpace(x), 10, 16)
		return uint16(u), err == nil
	default:
		return 0, false
	}
	if n < 0 || n > math.MaxUint16 || n != math.Trunc(n) {
		return 0, false
	}
	return uint16(n), true
}

// zeroInterval reports whether a TimeoutPeriod asks for no timeout: NULL,
// a zero CIM interval ("00000000000000.000000:000"), or a zero duration.
func zeroInterval(v Value) bool {
	switch x := v.(type) {
	case nil:
		return true
	case time.Duration:
		return x == 0
	case time.Time:
		return x.IsZero()
	case string:
		if d, err := time.ParseDuration(x); err == nil {
			return d == 0
		}
		return strings.Trim(x, "0.:") == ""
	}
	return false
}

// nodeStateChange is RequestStateChange on DRV_Node. The change is
// recorded in the cluster's desired state and carried out by the manager,
// so a change returns 4096 (Job Started; there is no CIM_ConcreteJob:
// Job is NULL, watch EnabledState or the events); a node already in the
// requested state returns 0.
func (m *Methods) nodeStateChange(node Instance, in map[string]Value) (outcome, error) {
	if err := checkParams(in, "RequestedState", "TimeoutPeriod"); err != nil {
		return outcome{}, err
	}
	out := map[string]Value{"Job": nil}
	v, ok := param(in, "RequestedState")
	if !ok || v == nil {
		return outcome{ret: RSCInvalidParameter, out: out, note: "RequestedState missing"}, nil
	}
	state, ok := asUint16(v)
	if !ok {
		return outcome{}, modelErr(ErrInvalidParameter, "RequestedState %v is not a uint16", v)
	}
	if t, ok := param(in, "TimeoutPeriod"); ok && !zeroInterval(t) {
		return outcome{ret: RSCTimeoutUnsupported, out: out, note: "the change is asynchronous; TimeoutPeriod is not supported"}, nil
	}
	name, _ := node.Get("Name").(string)
	drained, _ := node.Get("Drained").(bool)
	change := func(drain bool) outcome {
		if drained == drain {
			return outcome{ret: RSCCompleted, out: out, note: "already in that state"}
		}
		return outcome{ret: RSCJobStarted, out: out, failed: RSCFailed,
			act: func(ctx context.Context) error { return m.inv.DrainNode(ctx, name, drain) }}
	}
	switch state {
	case ReqEnabled:
		return change(false), nil
	case ReqOffline, ReqQuiesce:
		return change(true), nil
	case ReqNoChange:
		return outcome{ret: RSCCompleted, out: out}, nil
	case ReqDisabled, ReqShutDown, ReqTest, ReqDeferred, ReqReboot, ReqReset:
		return outcome{ret: RSCInvalidTransition, out: out, note: "a node can only be enabled (2) or drained (6, 9)"}, nil
	}
	return outcome{ret: RSCInvalidParameter, out: out, note: fmt.Sprintf("RequestedState %d is not a state", state)}, nil
}

// realServerStateChange is RequestStateChange on DRV_RealServer: the
// real server's administrative state, as `drover realserver` sets it: 2
// Enabled, 3 Disabled (out of the directors' tables), 9 Quiesce (weight
// 0). Like a node's, the change is recorded and carried out by the
// manager: 4096, or 0 when RequestedState already says so. The sorry
// server has no administrative state.
func (m *Methods) realServerStateChange(rs Instance, in map[string]Value) (outcome, error) {
	if err := checkParams(in, "RequestedState", "TimeoutPeriod"); err != nil {
		return outcome{}, err
	}
	out := map[string]Value{"Job": nil}
	if sorry, _ := rs.Get("Sorry").(bool); sorry {
		return outcome{ret: RSCNotSupported, out: out, note: "the sorry server has no administrative state"}, nil
	}
	v, ok := param(in, "RequestedState")
	if !ok || v == nil {
		return outcome{ret: RSCInvalidParameter, out: out, note: "RequestedState missing"}, nil
	}
	state, ok := asUint16(v)
	if !ok {
		return outcome{}, modelErr(ErrInvalidParameter, "RequestedState %v is not a uint16", v)
	}
	if t, ok := param(in, "TimeoutPeriod"); ok && !zeroInterval(t) {
		return outcome{ret: RSCTimeoutUnsupported, out: out, note: "the change is asynchronous; TimeoutPeriod is not supported"}, nil
	}
	service, _ := rs.Get("VirtualService").(string)
	address, _ := rs.Get("Address").(string)
	current, _ := rs.Get("RequestedState").(uint16)
	change := func(want uint16, admin string) outcome {
		if current == want {
			return outcome{ret: RSCCompleted, out: out, note: "already " + admin}
		}
		return outcome{ret: RSCJobStarted, out: out, failed: RSCFailed, note: admin,
			act: func(ctx context.Context) error { return m.inv.SetRealServerAdmin(ctx, service, address, admin) }}
	}
	switch state {
	case ReqEnabled:
		return change(ReqEnabled, "enabled"), nil
	case ReqDisabled:
		return change(ReqDisabled, "disabled"), nil
	case ReqQuiesce:
		return change(ReqQuiesce, "quiesced"), nil
	case ReqNoChange:
		return outcome{ret: RSCCompleted, out: out}, nil
	case ReqShutDown, ReqOffline, ReqTest, ReqDeferred, ReqReboot, ReqReset:
		return outcome{ret: RSCInvalidTransition, out: out, note: "a real server can only be enabled (2), disabled (3) or quiesced (9)"}, nil
	}
	return outcome{ret: RSCInvalidParameter, out: out, note: fmt.Sprintf("RequestedState %d is not a state", state)}, nil
}

// failover is Failover on DRV_VIPRedundancySet: the group moves to
// FailoverTo (a DRV_Node among the set's candidates, alive, not drained)
// or, without one, to the best other such candidate. 0 once the move is
// recorded (it happens asynchronously), 3 while a handover of the group
// is still in progress, 4 for a FailoverTo or FailoverFrom that cannot
// be, 2 when no other candidate can take the group or the bus fails.
func (m *Methods) failover(model Model, set Instance, in map[string]Value) (outcome, error) {
	if err := checkParams(in, "FailoverFrom", "FailoverTo"); err != nil {
		return outcome{}, err
	}
	group, _ := set.Get("VIPGroup").(string)
	owner, _ := set.Get("Owner").(string)
	if set.Get("PreviousOwner") != nil {
		return outcome{ret: FailoverBusy, note: "a handover of " + group + " is in progress"}, nil
	}
	cands, _ := set.Get("Candidates").([]string)
	usable := func(name string) (bool, string) {
		isCand := false
		for _, c := range cands {
			isCand = isCand || c == name
		}
		if !isCand {
			return false, name + " is not a candidate of " + group
		}
		n, err := model.Get(ObjectPath{Namespace: Namespace, Class: "DRV_Node", Keys: []KeyBinding{
			{Name: "CreationClassName", Value: "DRV_Node"}, {Name: "Name", Value: name}}})
		if err != nil {
			return false, name + " is not a member of the cluster"
		}
		if n.Get("NodeState") != "alive" {
			return false, fmt.Sprintf("%s is %v", name, n.Get("NodeState"))
		}
		if d, _ := n.Get("Drained").(bool); d {
			return false, name + " is drained"
		}
		return true, ""
	}
	nodeName := func(v Value, what string) (string, error) {
		p, ok := v.(ObjectPath)
		if !ok {
			return "", modelErr(ErrInvalidParameter, "%s must be a reference to a DRV_Node", what)
		}
		if !classes.isA(p.Class, "DRV_Node") {
			return "", nil
		}
		for _, k := range p.Keys {
			if strings.EqualFold(k.Name, "Name") {
				s, _ := k.Value.(string)
				return s, nil
			}
		}
		return "", nil
	}
	if v, ok := param(in, "FailoverFrom"); ok && v != nil {
		from, err := nodeName(v, "FailoverFrom")
		if err != nil {
			return outcome{}, err
		}
		if from == "" || from != owner {
			return outcome{ret: FailoverParamError, note: "FailoverFrom is not the owner of " + group}, nil
		}
	}
	var to string
	if v, ok := param(in, "FailoverTo"); ok && v != nil {
		n, err := nodeName(v, "FailoverTo")
		if err != nil {
			return outcome{}, err
		}
		if n == "" {
			return outcome{ret: FailoverParamError, note: "FailoverTo is not a DRV_Node"}, nil
		}
		if n == owner {
			return outcome{ret: FailoverCompleted, note: group + " is on " + n + " already"}, nil
		}
		if ok, why := usable(n); !ok {
			return outcome{ret: FailoverParamError, note: why}, nil
		}
		to = n
	} else {
		if len(cands) == 0 {
			return outcome{ret: FailoverNotSupported, note: "the view names no candidates of " + group}, nil
		}
		for _, c := range cands {
			if ok, _ := usable(c); ok && c != owner {
				to = c
				break
			}
		}
		if to == "" {
			return outcome{ret: FailoverUnknownError, note: "no other candidate of " + group + " is alive and undrained"}, nil
		}
	}
	return outcome{ret: FailoverCompleted, note: group + " to " + to, failed: FailoverUnknownError,
		act: func(ctx context.Context) error { return m.inv.MoveVIPGroup(ctx, group, to) }}, nil
}

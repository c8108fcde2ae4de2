// Package cim is Drover's CIM face: a class model from the DMTF CIM schema
// 2.49 (DRV_ classes derived from CIM_ ones, docs/cim.md) built from the
// cluster view, served as JSON under /cim/v1 and as CIM-XML (DSP0200,
// DSP0201) at /cimom, with methods that act on the cluster through the
// bus, Prometheus metrics, authentication, roles and an audit log.
package cim

import (
	"context"
	"time"
)

// Namespace is the one CIM namespace Drover serves.
const Namespace = "root/drover"

// CIM data types of properties (DSP0004), as CIM-XML names them.
const (
	TypeString   = "string"
	TypeBoolean  = "boolean"
	TypeUint16   = "uint16"
	TypeUint32   = "uint32"
	TypeUint64   = "uint64"
	TypeSint64   = "sint64"
	TypeDatetime = "datetime"
	TypeRef      = "reference" // a property of an association: an ObjectPath
)

// PropertyDecl declares one property of a class.
type PropertyDecl struct {
	Name  string
	Type  string // one of the Type constants
	Array bool
	Key   bool
	// Description is the property's documentation (docs/cim.md, OpenAPI).
	Description string
	// RefClass is the class a reference property points to.
	RefClass string
	// ValueMap and Values give an enumeration's codes and their names.
	ValueMap []string
	Values   []string
}

// ParamDecl declares one parameter of a method.
type ParamDecl struct {
	Name  string
	Type  string
	In    bool
	Out   bool
	Array bool
	// RefClass for reference parameters.
	RefClass string
}

// MethodDecl declares one extrinsic method of a class; it returns uint32.
type MethodDecl struct {
	Name        string
	Description string
	Params      []ParamDecl
	// Role is the least role that may invoke it ("operator" or "admin").
	Role string
}

// Class declares one class of the model.
type Class struct {
	Name        string // DRV_Node
	Super       string // CIM_ComputerSystem; "" for a root class
	Description string
	Association bool
	Properties  []PropertyDecl
	Methods     []MethodDecl
}

// Value is a property value. Its Go type follows the declared CIM type:
// string, bool, uint16, uint32, uint64, int64, time.Time (datetime),
// ObjectPath (reference), or a slice of one of them for arrays. nil is
// NULL.
type Value = any

// Property is one property of an instance.
type Property struct {
	Name  string
	Value Value
}

// Instance is one CIM instance: its class and its properties in the
// class's declaration order (every declared property present, NULL as
// nil).
type Instance struct {
	Class      string
	Properties []Property
}

// Get returns the value of the named property (nil if absent).
func (i Instance) Get(name string) Value {
	for _, p := range i.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return nil
}

// KeyBinding is one key of an object path; Value is the key's value as in
// Instance (string, bool, an unsigned integer, or an ObjectPath).
type KeyBinding struct {
	Name  string
	Value Value
}

// ObjectPath names an instance: namespace, class and keys in the order of
// the class's key properties.
type ObjectPath struct {
	Namespace string
	Class     string
	Keys      []KeyBinding
}

// Invoker carries out methods by asking the cluster (through the bus) for
// the change. Implementations return a CIM method return code: 0
// completed, 1 not supported, 2 unknown or unspecified error, 3 cannot
// complete within the timeout, 4 failed, 5 invalid parameter, 4096 job
// started (the change is recorded and will happen). err is for failures
// to talk to the cluster at all.
type Invoker interface {
	// DrainNode records that node gets no VIP groups (drain true) or may
	// own them again (false), as `drover node drain|undrain` does.
	DrainNode(ctx context.Context, node string, drain bool) error
	// MoveVIPGroup records that group should move to node, as `drover vip
	// move` does.
	MoveVIPGroup(ctx context.Context, group, node string) error
	// SetRealServerAdmin records the administrative state ("enabled",
	// "quiesced", "disabled") of the real server address (IP:port) of
	// service, as `drover realserver enable|quiesce|disable` does.
	SetRealServerAdmin(ctx context.Context, service, address, state string) error
}

// Model is one consistent snapshot of the cluster as CIM instances: what
// every request reads. Errors are *Error with a CIM_ERR_* code.
type Model interface {
	// Classes returns every class of the model, superclasses first.
	Classes() []Class
	// Class returns one class by name (case-insensitive, as CIM names are).
	Class(name string) (Class, bool)
	// Instances returns the instances of class and its subclasses.
	Instances(class string) ([]Instance, error)
	// Get returns the instance path names.
	Get(path ObjectPath) (Instance, error)
	// Associators returns the instances associated with path through
	// associations of assocClass (any if ""), whose class is resultClass
	// (or a subclass; any if ""), where path plays role and the result
	// plays resultRole (any if "").
	Associators(path ObjectPath, assocClass, resultClass, role, resultRole string) ([]Instance, error)
	// References returns the association instances of class resultClass
	// (any if "") that refer to path in role (any if "").
	References(path ObjectPath, resultClass, role string) ([]Instance, error)
	// Path returns the object path of an instance of the model.
	Path(i Instance) ObjectPath
}

// CIM status codes (DSP0200, DSP0004).
const (
	ErrFailed               = 1
	ErrAccessDenied         = 2
	ErrInvalidNamespace     = 3
	ErrInvalidParameter     = 4
	ErrInvalidClass         = 5
	ErrNotFound             = 6
	ErrNotSupported         = 7
	ErrMethodNotAvailable   = 16
	ErrMethodNotFound       = 17
	ErrServerLimitsExceeded = 27
)

// Error is a CIM error: a CIM_ERR_* code and a description.
type Error struct {
	Code        int
	Description string
}

func (e *Error) Error() string { return e.Description }

// Role is what an authenticated user may do: viewers read; operators also
// drain, quiesce and fail over; admins may do everything.
type Role int

// Roles, least first.
const (
	RoleViewer Role = iota + 1
	RoleOperator
	RoleAdmin
)

// Principal is who makes a request: the authenticated user, the role and
// the source address.
type Principal struct {
	User   string
	Role   Role
	Source string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// AuditEntry is one line of the audit log: a state-changing request,
// allowed or denied.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Source string    `json:"source"`
	Action string    `json:"action"` // "DRV_Node.RequestStateChange(6)"
	Target string    `json:"target"` // the object path
	Result string    `json:"result"` // "denied", "0", "4096", an error
}

// Auditor appends entries to the audit log. An error means the entry was
// not recorded: the request must then be refused, never carried out
// unaudited.
type Auditor interface {
	Record(ctx context.Context, e AuditEntry) error
}

// MethodRunner invokes extrinsic methods: it checks the caller's role
// against the method's, audits the request (allowed or denied), and
// carries it out. A denied call returns an *Error with ErrAccessDenied.
type MethodRunner interface {
	Invoke(ctx context.Context, path ObjectPath, method string, in map[string]Value) (ret uint32, out map[string]Value, err error)
}

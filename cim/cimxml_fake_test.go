package cim

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// xmlFakeModel is a small Model for the CIM-XML tests that do not need
// the real classes: a root class with a subclass (inherited keys), a
// second root class and an association between them.
type xmlFakeModel struct {
	classes   []Class
	instances []Instance
}

var _ Model = (*xmlFakeModel)(nil)

func newXMLFakeModel() *xmlFakeModel {
	key := func(name, desc string) PropertyDecl {
		return PropertyDecl{Name: name, Type: TypeString, Key: true, Description: desc}
	}
	system := Class{Name: "CIM_System", Description: "A system.", Properties: []PropertyDecl{
		key("CreationClassName", "The class of the instance."),
		key("Name", "The system's name."),
		{Name: "ElementName", Type: TypeString},
	}}
	node := Class{Name: "DRV_Node", Super: "CIM_System", Description: "A Drover node.",
		Properties: append(slices.Clone(system.Properties),
			PropertyDecl{Name: "State", Type: TypeUint16, Description: "Membership state.",
				ValueMap: []string{"2", "3"}, Values: []string{"Alive", "Dead"}},
			PropertyDecl{Name: "Manager", Type: TypeBoolean},
			PropertyDecl{Name: "Since", Type: TypeDatetime},
			PropertyDecl{Name: "Epoch", Type: TypeUint64},
			PropertyDecl{Name: "Skew", Type: TypeSint64},
			PropertyDecl{Name: "Held", Type: TypeString, Array: true},
			PropertyDecl{Name: "Reason", Type: TypeString},
		),
		Methods: []MethodDecl{{Name: "RequestStateChange", Description: "Drains or undrains the node.", Role: "operator",
			Params: []ParamDecl{
				{Name: "RequestedState", Type: TypeUint16, In: true},
				{Name: "Reason", Type: TypeString, In: true},
				{Name: "Ports", Type: TypeUint16, In: true, Array: true},
				{Name: "Job", Type: TypeRef, Out: true, RefClass: "DRV_Node"},
				{Name: "Message", Type: TypeString, Out: true},
			}}},
	}
	service := Class{Name: "DRV_Service", Description: "A virtual service.", Properties: []PropertyDecl{
		key("Name", "The service's name."),
		{Name: "Port", Type: TypeUint16},
	}}
	hosted := Class{Name: "DRV_HostedService", Association: true, Description: "A node hosts a service.",
		Properties: []PropertyDecl{
			{Name: "Antecedent", Type: TypeRef, Key: true, RefClass: "DRV_Node"},
			{Name: "Dependent", Type: TypeRef, Key: true, RefClass: "DRV_Service"},
		}}
	m := &xmlFakeModel{classes: []Class{system, service, node, hosted}}
	since := time.Date(2026, 11, 22, 9, 10, 0, 123456000, time.UTC)
	nodeInst := func(name, elem string, state uint16, mgr bool, held []string, reason any) Instance {
		return Instance{Class: "DRV_Node", Properties: []Property{
			{"CreationClassName", "DRV_Node"}, {"Name", name}, {"ElementName", elem},
			{"State", state}, {"Manager", mgr}, {"Since", since}, {"Epoch", uint64(17)},
			{"Skew", int64(-3)}, {"Held", held}, {"Reason", reason},
		}}
	}
	svc := Instance{Class: "DRV_Service", Properties: []Property{{"Name", "web"}, {"Port", uint16(443)}}}
	m.instances = []Instance{
		nodeInst("dir1", "director one", 2, true, []string{"web", "db"}, nil),
		nodeInst("dir2", `a <b> & "c" 'd'`, 3, false, nil, "no heartbeat for 700ms"),
		{Class: "CIM_System", Properties: []Property{{"CreationClassName", "CIM_System"}, {"Name", "plain"}, {"ElementName", nil}}},
		svc,
	}
	for _, n := range m.instances[:2] {
		m.instances = append(m.instances, Instance{Class: "DRV_HostedService", Properties: []Property{
			{"Antecedent", m.Path(n)}, {"Dependent", m.Path(svc)},
		}})
	}
	return m
}

func (m *xmlFakeModel) Classes() []Class { return m.classes }

func (m *xmlFakeModel) Class(name string) (Class, bool) {
	for _, c := range m.classes {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Class{}, false
}

func (m *xmlFakeModel) isA(class, ancestor string) bool {
	for class != "" {
		if strings.EqualFold(class, ancestor) {
			return true
		}
		c, ok := m.Class(class)
		if !ok {
			return false
		}
		class = c.Super
	}
	return false
}

func (m *xmlFakeModel) Instances(class string) ([]Instance, error) {
	if _, ok := m.Class(class); !ok {
		return nil, &Error{Code: ErrInvalidClass, Description: "no class " + class}
	}
	var out []Instance
	for _, in := range m.instances {
		if m.isA(in.Class, class) {
			out = append(out, in)
		}
	}
	return out, nil
}

func (m *xmlFakeModel) Get(path ObjectPath) (Instance, error) {
	for _, in := range m.instances {
		if strings.EqualFold(in.Class, path.Class) && reflect.DeepEqual(m.Path(in), path) {
			return in, nil
		}
	}
	return Instance{}, &Error{Code: ErrNotFound, Description: "no such instance"}
}

func (m *xmlFakeModel) Path(i Instance) ObjectPath {
	c, _ := m.Class(i.Class)
	p := ObjectPath{Namespace: Namespace, Class: i.Class}
	for _, d := range c.Properties {
		if d.Key {
			p.Keys = append(p.Keys, KeyBinding{Name: d.Name, Value: i.Get(d.Name)})
		}
	}
	return p
}

// links calls f for each association instance, the property naming
// path and the other reference property.
func (m *xmlFakeModel) links(path ObjectPath, f func(assoc Instance, role, otherRole string, other ObjectPath)) {
	for _, a := range m.instances {
		c, _ := m.Class(a.Class)
		if !c.Association {
			continue
		}
		for _, p := range a.Properties {
			ref, ok := p.Value.(ObjectPath)
			if !ok || !reflect.DeepEqual(ref, path) {
				continue
			}
			for _, q := range a.Properties {
				if other, ok := q.Value.(ObjectPath); ok && q.Name != p.Name {
					f(a, p.Name, q.Name, other)
				}
			}
		}
	}
}

func (m *xmlFakeModel) Associators(path ObjectPath, assocClass, resultClass, role, resultRole string) ([]Instance, error) {
	var out []Instance
	m.links(path, func(a Instance, r, rr string, other ObjectPath) {
		if (assocClass != "" && !m.isA(a.Class, assocClass)) || (role != "" && !strings.EqualFold(role, r)) ||
			(resultRole != "" && !strings.EqualFold(resultRole, rr)) || (resultClass != "" && !m.isA(other.Class, resultClass)) {
			return
		}
		if in, err := m.Get(other); err == nil {
			out = append(out, in)
		}
	})
	return out, nil
}

func (m *xmlFakeModel) References(path ObjectPath, resultClass, role string) ([]Instance, error) {
	var out []Instance
	m.links(path, func(a Instance, r, _ string, _ ObjectPath) {
		if (resultClass != "" && !m.isA(a.Class, resultClass)) || (role != "" && !strings.EqualFold(role, r)) {
			return
		}
		out = append(out, a)
	})
	return out, nil
}

// xmlFakeRunner records the method calls it is asked to make and answers
// with ret, out and err.
type xmlFakeRunner struct {
	ret uint32
	out map[string]Value
	err error

	mu    sync.Mutex // guards calls
	calls []xmlFakeCall
}

type xmlFakeCall struct {
	Principal Principal
	Path      ObjectPath
	Method    string
	In        map[string]Value
}

var _ MethodRunner = (*xmlFakeRunner)(nil)

func (r *xmlFakeRunner) Invoke(ctx context.Context, path ObjectPath, method string, in map[string]Value) (uint32, map[string]Value, error) {
	p, _ := PrincipalFrom(ctx)
	r.mu.Lock()
	r.calls = append(r.calls, xmlFakeCall{Principal: p, Path: path, Method: method, In: in})
	r.mu.Unlock()
	return r.ret, r.out, r.err
}

func (r *xmlFakeRunner) Calls() []xmlFakeCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

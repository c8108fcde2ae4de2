package cim

import (
	"slices"
	"strings"
)

// xmlIntrinsic is one intrinsic method (DSP0200 5.3.2): its parameters
// (by lower-case name, with their canonical names) and what it does.
type xmlIntrinsic struct {
	name   string
	params []string
	run    func(x *xmlOps, p xmlParams) (xmlRender, *Error)
}

// xmlRender writes the result of an operation that succeeded: operations
// read the model first and render after, so that the response can stream
// and an error never follows part of a result.
type xmlRender func()

var xmlIntrinsics = func() map[string]xmlIntrinsic {
	ops := []xmlIntrinsic{
		{"EnumerateClassNames", []string{"ClassName", "DeepInheritance"}, (*xmlOps).enumerateClassNames},
		{"EnumerateClasses", []string{"ClassName", "DeepInheritance", "LocalOnly", "IncludeQualifiers", "IncludeClassOrigin"}, (*xmlOps).enumerateClasses},
		{"GetClass", []string{"ClassName", "LocalOnly", "IncludeQualifiers", "IncludeClassOrigin", "PropertyList"}, (*xmlOps).getClass},
		{"EnumerateInstanceNames", []string{"ClassName"}, (*xmlOps).enumerateInstanceNames},
		{"EnumerateInstances", []string{"ClassName", "LocalOnly", "DeepInheritance", "IncludeQualifiers", "IncludeClassOrigin", "PropertyList"}, (*xmlOps).enumerateInstances},
		{"GetInstance", []string{"InstanceName", "LocalOnly", "IncludeQualifiers", "IncludeClassOrigin", "PropertyList"}, (*xmlOps).getInstance},
		{"Associators", []string{"ObjectName", "AssocClass", "ResultClass", "Role", "ResultRole", "IncludeQualifiers", "IncludeClassOrigin", "PropertyList"}, (*xmlOps).associators},
		{"AssociatorNames", []string{"ObjectName", "AssocClass", "ResultClass", "Role", "ResultRole"}, (*xmlOps).associatorNames},
		{"References", []string{"ObjectName", "ResultClass", "Role", "IncludeQualifiers", "IncludeClassOrigin", "PropertyList"}, (*xmlOps).references},
		{"ReferenceNames", []string{"ObjectName", "ResultClass", "Role"}, (*xmlOps).referenceNames},
	}
	m := map[string]xmlIntrinsic{}
	for _, op := range ops {
		m[strings.ToLower(op.name)] = op
	}
	return m
}()

// xmlParams are the IPARAMVALUEs of a call by lower-case name.
type xmlParams map[string]*xnode

func (x *xmlOps) params(nodes []*xnode, allowed []string) (xmlParams, *Error) {
	p := xmlParams{}
	for _, n := range nodes {
		name, _ := n.attr("NAME")
		ln := strings.ToLower(name)
		if !slices.ContainsFunc(allowed, func(a string) bool { return strings.ToLower(a) == ln }) {
			return nil, cimErr(ErrInvalidParameter, "unknown parameter %q", name)
		}
		if p[ln] != nil {
			return nil, cimErr(ErrInvalidParameter, "parameter %s given twice", name)
		}
		p[ln] = n
	}
	return p, nil
}

// boolean returns a boolean parameter, def when absent or NULL.
func (p xmlParams) boolean(name string, def bool) (bool, *Error) {
	n := p[strings.ToLower(name)]
	if n == nil || len(n.kids) == 0 {
		return def, nil
	}
	v := n.only()
	if v == nil || v.name != "VALUE" {
		return false, cimErr(ErrInvalidParameter, "%s is not a boolean VALUE", name)
	}
	b, ok := xmlBool(v.text)
	if !ok {
		return false, cimErr(ErrInvalidParameter, "%s: %q is not a boolean", name, v.text)
	}
	return b, nil
}

// className returns a CLASSNAME parameter, "" when absent or NULL.
func (p xmlParams) className(name string) (string, *Error) {
	n := p[strings.ToLower(name)]
	if n == nil || len(n.kids) == 0 {
		return "", nil
	}
	c := n.only()
	cn, ok := "", false
	if c != nil && c.name == "CLASSNAME" {
		cn, ok = c.attr("NAME")
	}
	if !ok {
		return "", cimErr(ErrInvalidParameter, "%s is not a CLASSNAME", name)
	}
	return cn, nil
}

// str returns a string parameter, "" when absent or NULL.
func (p xmlParams) str(name string) (string, *Error) {
	n := p[strings.ToLower(name)]
	if n == nil || len(n.kids) == 0 {
		return "", nil
	}
	v := n.only()
	if v == nil || v.name != "VALUE" {
		return "", cimErr(ErrInvalidParameter, "%s is not a VALUE", name)
	}
	return v.text, nil
}

// propertyList returns PropertyList as a set of lower-case names; nil
// means every property (NULL), an empty set none.
func (p xmlParams) propertyList() (map[string]bool, *Error) {
	n := p["propertylist"]
	if n == nil || len(n.kids) == 0 {
		return nil, nil
	}
	arr := n.only()
	if arr == nil || arr.name != "VALUE.ARRAY" {
		return nil, cimErr(ErrInvalidParameter, "PropertyList is not a VALUE.ARRAY")
	}
	set := map[string]bool{}
	for _, v := range arr.kids {
		if v.name != "VALUE" {
			return nil, cimErr(ErrInvalidParameter, "PropertyList holds %s", v.name)
		}
		set[strings.ToLower(strings.TrimSpace(v.text))] = true
	}
	return set, nil
}

// requireClass returns the class a ClassName parameter names.
func (x *xmlOps) requireClass(p xmlParams) (*xmlClassInfo, *Error) {
	name, err := p.className("ClassName")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, cimErr(ErrInvalidParameter, "ClassName is required")
	}
	info := x.class(name)
	if info == nil {
		return nil, cimErr(ErrInvalidClass, "class %s does not exist", name)
	}
	return info, nil
}

// objectName returns the instance an ObjectName or InstanceName
// parameter names; a class name (class-level association traversal) is
// not supported.
func (x *xmlOps) objectName(p xmlParams, name string) (ObjectPath, *Error) {
	n := p[strings.ToLower(name)]
	if n == nil || len(n.kids) == 0 {
		return ObjectPath{}, cimErr(ErrInvalidParameter, "%s is required", name)
	}
	in := n.only()
	switch {
	case in != nil && in.name == "INSTANCENAME":
		return x.instanceName(in, Namespace)
	case in != nil && in.name == "CLASSNAME":
		cn, _ := in.attr("NAME")
		if x.class(cn) == nil {
			return ObjectPath{}, cimErr(ErrInvalidClass, "class %s does not exist", cn)
		}
		return ObjectPath{}, cimErr(ErrNotSupported, "%s names a class: only instances have associations here", name)
	}
	return ObjectPath{}, cimErr(ErrInvalidParameter, "%s is not an INSTANCENAME", name)
}

// instanceName decodes INSTANCENAME into a path whose class and key
// names are the model's spelling and whose key values have their
// declared types, keys in the class's order.
func (x *xmlOps) instanceName(n *xnode, ns string) (ObjectPath, *Error) {
	cn, _ := n.attr("CLASSNAME")
	if cn == "" {
		return ObjectPath{}, cimErr(ErrInvalidParameter, "INSTANCENAME has no CLASSNAME")
	}
	info := x.class(cn)
	if info == nil {
		return ObjectPath{}, cimErr(ErrInvalidClass, "class %s does not exist", cn)
	}
	path := ObjectPath{Namespace: ns, Class: info.class.Name}
	got := map[string]Value{}
	for _, k := range n.kids {
		name, _ := k.attr("NAME")
		v := k
		switch k.name {
		case "KEYBINDING":
			if v = k.only(); v == nil {
				return ObjectPath{}, cimErr(ErrInvalidParameter, "KEYBINDING %s holds no single value", name)
			}
		case "KEYVALUE", "VALUE.REFERENCE":
			// The single key of a class may be given without its name.
			if len(n.kids) != 1 || len(info.keys) != 1 {
				return ObjectPath{}, cimErr(ErrInvalidParameter, "an unnamed key of %s", info.class.Name)
			}
			name = info.keys[0].Name
		default:
			return ObjectPath{}, cimErr(ErrInvalidParameter, "INSTANCENAME holds %s", k.name)
		}
		decl, ok := info.prop(name)
		if !ok || !decl.Key {
			return ObjectPath{}, cimErr(ErrInvalidParameter, "%s has no key %q", info.class.Name, name)
		}
		if _, dup := got[strings.ToLower(decl.Name)]; dup {
			return ObjectPath{}, cimErr(ErrInvalidParameter, "key %s given twice", decl.Name)
		}
		var val Value
		switch v.name {
		case "KEYVALUE":
			if decl.Type == TypeRef {
				return ObjectPath{}, cimErr(ErrInvalidParameter, "key %s is a reference", decl.Name)
			}
			var err error
			if val, err = parseScalar(decl.Type, v.text); err != nil {
				return ObjectPath{}, cimErr(ErrInvalidParameter, "key %s: %v", decl.Name, err)
			}
		case "VALUE.REFERENCE":
			if decl.Type != TypeRef {
				return ObjectPath{}, cimErr(ErrInvalidParameter, "key %s is not a reference", decl.Name)
			}
			ref, err := x.reference(v)
			if err != nil {
				return ObjectPath{}, err
			}
			val = ref
		default:
			return ObjectPath{}, cimErr(ErrInvalidParameter, "key %s holds %s", decl.Name, v.name)
		}
		got[strings.ToLower(decl.Name)] = val
	}
	for _, k := range info.keys {
		if v, ok := got[strings.ToLower(k.Name)]; ok {
			path.Keys = append(path.Keys, KeyBinding{Name: k.Name, Value: v})
		}
	}
	return path, nil
}

// reference decodes VALUE.REFERENCE naming an instance.
func (x *xmlOps) reference(n *xnode) (ObjectPath, *Error) {
	p := n.only()
	if p == nil {
		return ObjectPath{}, cimErr(ErrInvalidParameter, "VALUE.REFERENCE holds no single path")
	}
	ns := Namespace
	var in *xnode
	switch p.name {
	case "INSTANCENAME":
		in = p
	case "LOCALINSTANCEPATH", "INSTANCEPATH":
		lns := p.child("LOCALNAMESPACEPATH")
		if nsp := p.child("NAMESPACEPATH"); nsp != nil {
			lns = nsp.child("LOCALNAMESPACEPATH")
		}
		in = p.child("INSTANCENAME")
		if lns == nil || in == nil {
			return ObjectPath{}, cimErr(ErrInvalidParameter, "%s without a namespace or an instance name", p.name)
		}
		name, err := namespaceName(lns.kids)
		if err != nil {
			return ObjectPath{}, cimErr(ErrInvalidParameter, "%s", err.Error())
		}
		if !strings.EqualFold(name, Namespace) {
			ns = name
		}
	default:
		return ObjectPath{}, cimErr(ErrInvalidParameter, "VALUE.REFERENCE holds %s, not an instance path", p.name)
	}
	return x.instanceName(in, ns)
}

// subclasses returns the classes of the model directly below name ("" for
// the root classes: those whose superclass the model does not have), or
// all below it when deep.
func (x *xmlOps) subclasses(name string, deep bool) []Class {
	all := x.m.Classes()
	has := map[string]bool{}
	for _, c := range all {
		has[strings.ToLower(c.Name)] = true
	}
	parent := func(c Class) string {
		if c.Super == "" || !has[strings.ToLower(c.Super)] {
			return ""
		}
		return strings.ToLower(c.Super)
	}
	if name == "" && deep {
		return all
	}
	under := map[string]bool{strings.ToLower(name): true}
	var out []Class
	// Classes lists superclasses first, so one pass finds every level.
	for _, c := range all {
		if under[parent(c)] && !strings.EqualFold(c.Name, name) {
			out = append(out, c)
			if deep {
				under[strings.ToLower(c.Name)] = true
			}
		}
	}
	return out
}

func (x *xmlOps) enumerateClassNames(p xmlParams) (xmlRender, *Error) {
	name, err := p.className("ClassName")
	if err != nil {
		return nil, err
	}
	if name != "" && x.class(name) == nil {
		return nil, cimErr(ErrInvalidClass, "class %s does not exist", name)
	}
	deep, err := p.boolean("DeepInheritance", false)
	if err != nil {
		return nil, err
	}
	return func() {
		w := x.w
		w.open("IRETURNVALUE")
		w.WriteByte('\n')
		for _, c := range x.subclasses(name, deep) {
			w.empty("CLASSNAME", "NAME", c.Name)
			w.WriteByte('\n')
		}
		w.close("IRETURNVALUE")
		w.WriteByte('\n')
	}, nil
}

// classOptions are GetClass's and EnumerateClasses' flags.
type classOptions struct {
	localOnly, qualifiers, classOrigin bool
	list                               map[string]bool
}

func classFlags(p xmlParams) (classOptions, *Error) {
	var o classOptions
	var err *Error
	if o.localOnly, err = p.boolean("LocalOnly", true); err != nil {
		return o, err
	}
	if o.qualifiers, err = p.boolean("IncludeQualifiers", true); err != nil {
		return o, err
	}
	if o.classOrigin, err = p.boolean("IncludeClassOrigin", false); err != nil {
		return o, err
	}
	o.list, err = p.propertyList()
	return o, err
}

func (x *xmlOps) enumerateClasses(p xmlParams) (xmlRender, *Error) {
	name, err := p.className("ClassName")
	if err != nil {
		return nil, err
	}
	if name != "" && x.class(name) == nil {
		return nil, cimErr(ErrInvalidClass, "class %s does not exist", name)
	}
	deep, err := p.boolean("DeepInheritance", false)
	if err != nil {
		return nil, err
	}
	o, err := classFlags(p)
	if err != nil {
		return nil, err
	}
	return func() {
		x.w.open("IRETURNVALUE")
		x.w.WriteByte('\n')
		for _, c := range x.subclasses(name, deep) {
			if info := x.class(c.Name); info != nil {
				x.writeClass(info, o)
			}
		}
		x.w.close("IRETURNVALUE")
		x.w.WriteByte('\n')
	}, nil
}

func (x *xmlOps) getClass(p xmlParams) (xmlRender, *Error) {
	info, err := x.requireClass(p)
	if err != nil {
		return nil, err
	}
	o, err := classFlags(p)
	if err != nil {
		return nil, err
	}
	return func() {
		x.w.open("IRETURNVALUE")
		x.w.WriteByte('\n')
		x.writeClass(info, o)
		x.w.close("IRETURNVALUE")
		x.w.WriteByte('\n')
	}, nil
}

func (x *xmlOps) enumerateInstanceNames(p xmlParams) (xmlRender, *Error) {
	info, err := x.requireClass(p)
	if err != nil {
		return nil, err
	}
	insts, ierr := x.m.Instances(info.class.Name)
	if ierr != nil {
		return nil, asCIMError(ierr)
	}
	return func() {
		w := x.w
		w.open("IRETURNVALUE")
		w.WriteByte('\n')
		for _, in := range insts {
			w.instanceName(x.m.Path(in))
			w.WriteByte('\n')
		}
		w.close("IRETURNVALUE")
		w.WriteByte('\n')
	}, nil
}

// instanceOptions choose the properties of instances returned.
type instanceOptions struct {
	list map[string]bool // nil: all
	// requested is the class the request named; with localOnly the
	// properties it inherits are left out, without deep those its
	// subclasses add.
	requested   *xmlClassInfo
	localOnly   bool
	deep        bool
	classOrigin bool
	plans       map[string][]xmlPropPlan // by instance class, filled as met
}

func instanceFlags(p xmlParams, requested *xmlClassInfo, localOnlyDefault bool) (instanceOptions, *Error) {
	o := instanceOptions{requested: requested, deep: true, plans: map[string][]xmlPropPlan{}}
	var err *Error
	if o.localOnly, err = p.boolean("LocalOnly", localOnlyDefault); err != nil {
		return o, err
	}
	if o.deep, err = p.boolean("DeepInheritance", true); err != nil {
		return o, err
	}
	// Qualifiers on instances are deprecated (DSP0200 5.3.2.2) and
	// Drover's instances carry none.
	if _, err = p.boolean("IncludeQualifiers", false); err != nil {
		return o, err
	}
	if o.classOrigin, err = p.boolean("IncludeClassOrigin", false); err != nil {
		return o, err
	}
	o.list, err = p.propertyList()
	return o, err
}

func (x *xmlOps) enumerateInstances(p xmlParams) (xmlRender, *Error) {
	info, err := x.requireClass(p)
	if err != nil {
		return nil, err
	}
	o, err := instanceFlags(p, info, true)
	if err != nil {
		return nil, err
	}
	insts, ierr := x.m.Instances(info.class.Name)
	if ierr != nil {
		return nil, asCIMError(ierr)
	}
	return func() {
		w := x.w
		w.open("IRETURNVALUE")
		w.WriteByte('\n')
		for _, in := range insts {
			w.open("VALUE.NAMEDINSTANCE")
			w.instanceName(x.m.Path(in))
			w.WriteByte('\n')
			x.writeInstance(in, o)
			w.close("VALUE.NAMEDINSTANCE")
			w.WriteByte('\n')
		}
		w.close("IRETURNVALUE")
		w.WriteByte('\n')
	}, nil
}

func (x *xmlOps) getInstance(p xmlParams) (xmlRender, *Error) {
	path, err := x.objectName(p, "InstanceName")
	if err != nil {
		return nil, err
	}
	o, err := instanceFlags(p, x.class(path.Class), true)
	if err != nil {
		return nil, err
	}
	in, gerr := x.m.Get(path)
	if gerr != nil {
		return nil, asCIMError(gerr)
	}
	return func() {
		x.w.open("IRETURNVALUE")
		x.w.WriteByte('\n')
		x.writeInstance(in, o)
		x.w.close("IRETURNVALUE")
		x.w.WriteByte('\n')
	}, nil
}

// assocArgs are the filters of the association operations.
type assocArgs struct {
	path                                      ObjectPath
	assocClass, resultClass, role, resultRole string
}

func (x *xmlOps) assocParams(p xmlParams, assoc bool) (a assocArgs, err *Error) {
	if a.path, err = x.objectName(p, "ObjectName"); err != nil {
		return a, err
	}
	if a.resultClass, err = p.className("ResultClass"); err != nil {
		return a, err
	}
	if a.role, err = p.str("Role"); err != nil {
		return a, err
	}
	if assoc {
		if a.assocClass, err = p.className("AssocClass"); err != nil {
			return a, err
		}
		if a.resultRole, err = p.str("ResultRole"); err != nil {
			return a, err
		}
	}
	// The object itself must exist (DSP0200: CIM_ERR_NOT_FOUND is not in
	// the list, but an empty answer would hide a typing mistake).
	if _, gerr := x.m.Get(a.path); gerr != nil {
		return a, asCIMError(gerr)
	}
	return a, nil
}

func (x *xmlOps) associated(p xmlParams, assoc bool) ([]Instance, *Error) {
	a, err := x.assocParams(p, assoc)
	if err != nil {
		return nil, err
	}
	var insts []Instance
	var merr error
	if assoc {
		insts, merr = x.m.Associators(a.path, a.assocClass, a.resultClass, a.role, a.resultRole)
	} else {
		insts, merr = x.m.References(a.path, a.resultClass, a.role)
	}
	if merr != nil {
		return nil, asCIMError(merr)
	}
	return insts, nil
}

func (x *xmlOps) writeObjects(p xmlParams, assoc bool) (xmlRender, *Error) {
	insts, err := x.associated(p, assoc)
	if err != nil {
		return nil, err
	}
	o, err := instanceFlags(p, nil, false)
	if err != nil {
		return nil, err
	}
	return func() {
		w := x.w
		w.open("IRETURNVALUE")
		w.WriteByte('\n')
		for _, in := range insts {
			w.open("VALUE.OBJECTWITHPATH")
			w.instancePath(x.m.Path(in))
			w.WriteByte('\n')
			x.writeInstance(in, o)
			w.close("VALUE.OBJECTWITHPATH")
			w.WriteByte('\n')
		}
		w.close("IRETURNVALUE")
		w.WriteByte('\n')
	}, nil
}

func (x *xmlOps) writeNames(p xmlParams, assoc bool) (xmlRender, *Error) {
	insts, err := x.associated(p, assoc)
	if err != nil {
		return nil, err
	}
	return func() {
		w := x.w
		w.open("IRETURNVALUE")
		w.WriteByte('\n')
		for _, in := range insts {
			w.open("OBJECTPATH")
			w.instancePath(x.m.Path(in))
			w.close("OBJECTPATH")
			w.WriteByte('\n')
		}
		w.close("IRETURNVALUE")
		w.WriteByte('\n')
	}, nil
}

func (x *xmlOps) associators(p xmlParams) (xmlRender, *Error)     { return x.writeObjects(p, true) }
func (x *xmlOps) references(p xmlParams) (xmlRender, *Error)      { return x.writeObjects(p, false) }
func (x *xmlOps) associatorNames(p xmlParams) (xmlRender, *Error) { return x.writeNames(p, true) }
func (x *xmlOps) referenceNames(p xmlParams) (xmlRender, *Error)  { return x.writeNames(p, false) }

// xmlPropPlan is what writeInstance needs of one property of a class,
// worked out once per class and request rather than once per instance.
type xmlPropPlan struct {
	name   string
	decl   *PropertyDecl // nil: undeclared
	origin string        // "" unless IncludeClassOrigin
	keep   bool
}

// plan works out the property name of a class's instance: its
// declaration, its class origin and whether o selects it.
func (x *xmlOps) plan(info *xmlClassInfo, class, name string, o instanceOptions) xmlPropPlan {
	ln := strings.ToLower(name)
	pp := xmlPropPlan{name: name, origin: class}
	if d, ok := info.prop(name); ok {
		pp.decl = &d
	}
	if info != nil && info.origin[ln] != "" {
		pp.origin = info.origin[ln]
	}
	pp.keep = o.list == nil || o.list[ln]
	if r := o.requested; r != nil {
		if _, inRequested := r.propIndex[ln]; !o.deep && !inRequested {
			pp.keep = false
		}
		if o.localOnly && r.ancestors[strings.ToLower(pp.origin)] {
			pp.keep = false
		}
	}
	if !o.classOrigin {
		pp.origin = ""
	}
	return pp
}

// writeInstance writes INSTANCE with the properties o selects.
func (x *xmlOps) writeInstance(in Instance, o instanceOptions) {
	w := x.w
	info := x.class(in.Class)
	// Instances list their class's properties in its order (Instance), so
	// the plan is by position; a property elsewhere is planned alone.
	plans := o.plans[in.Class]
	if plans == nil && info != nil {
		for _, d := range info.class.Properties {
			plans = append(plans, x.plan(info, in.Class, d.Name, o))
		}
		o.plans[in.Class] = plans
	}
	w.open("INSTANCE", "CLASSNAME", in.Class)
	w.WriteByte('\n')
	for i, p := range in.Properties {
		var pp xmlPropPlan
		if i < len(plans) && plans[i].name == p.Name {
			pp = plans[i]
		} else {
			pp = x.plan(info, in.Class, p.Name, o)
		}
		if pp.keep {
			x.writeProperty(p.Name, pp.decl, p.Value, pp.origin)
		}
	}
	w.close("INSTANCE")
	w.WriteByte('\n')
}

// writeProperty writes PROPERTY, PROPERTY.ARRAY or PROPERTY.REFERENCE;
// d is nil for a property the class does not declare.
func (x *xmlOps) writeProperty(name string, d *PropertyDecl, v Value, origin string) {
	w := x.w
	typ, array, refClass := "", false, ""
	if d != nil {
		typ, array, refClass = d.Type, d.Array, d.RefClass
	} else if v != nil {
		typ = typeOf(v)
		_, array = elements(v)
		if _, isString := v.(string); isString {
			array = false
		}
	}
	switch {
	case typ == TypeRef && !array:
		w.open("PROPERTY.REFERENCE", "NAME", name, "REFERENCECLASS", refClass, "CLASSORIGIN", origin)
		switch p := v.(type) {
		case ObjectPath:
			w.valueReference(p)
		case *ObjectPath:
			if p != nil {
				w.valueReference(*p)
			}
		}
		w.close("PROPERTY.REFERENCE")
	case array:
		w.open("PROPERTY.ARRAY", "NAME", name, "TYPE", typ, "CLASSORIGIN", origin)
		if v != nil {
			elems, ok := elements(v)
			if !ok {
				elems = []Value{v}
			}
			w.array(elems)
		}
		w.close("PROPERTY.ARRAY")
	default:
		w.open("PROPERTY", "NAME", name, "TYPE", typ, "CLASSORIGIN", origin)
		if v != nil {
			s, _ := scalarText(v)
			w.leaf("VALUE", s)
		}
		w.close("PROPERTY")
	}
	w.WriteByte('\n')
}

// writeClass writes CLASS with the qualifiers Drover knows: Association,
// Key, Description, ValueMap, Values, In and Out.
func (x *xmlOps) writeClass(info *xmlClassInfo, o classOptions) {
	w := x.w
	c := info.class
	w.open("CLASS", "NAME", c.Name, "SUPERCLASS", c.Super)
	w.WriteByte('\n')
	if o.qualifiers {
		if c.Association {
			x.qualifier("Association", TypeBoolean, true)
		}
		if c.Description != "" {
			x.qualifier("Description", TypeString, c.Description)
		}
	}
	inherited := func(key string) (origin string, propagated string, skip bool) {
		origin = info.origin[key]
		if origin == "" {
			origin = c.Name
		}
		if !strings.EqualFold(origin, c.Name) {
			propagated = "true"
		}
		skip = o.localOnly && propagated != ""
		if !o.classOrigin {
			origin = ""
		}
		return origin, propagated, skip
	}
	for _, d := range info.props {
		ln := strings.ToLower(d.Name)
		origin, propagated, skip := inherited(ln)
		if skip || (o.list != nil && !o.list[ln]) {
			continue
		}
		var el string
		switch {
		case d.Type == TypeRef:
			el = "PROPERTY.REFERENCE"
			w.open(el, "NAME", d.Name, "REFERENCECLASS", d.RefClass, "CLASSORIGIN", origin, "PROPAGATED", propagated)
		case d.Array:
			el = "PROPERTY.ARRAY"
			w.open(el, "NAME", d.Name, "TYPE", d.Type, "CLASSORIGIN", origin, "PROPAGATED", propagated)
		default:
			el = "PROPERTY"
			w.open(el, "NAME", d.Name, "TYPE", d.Type, "CLASSORIGIN", origin, "PROPAGATED", propagated)
		}
		if o.qualifiers {
			if d.Key {
				x.qualifier("Key", TypeBoolean, true)
			}
			if d.Description != "" {
				x.qualifier("Description", TypeString, d.Description)
			}
			if len(d.ValueMap) > 0 {
				x.qualifier("ValueMap", TypeString, d.ValueMap)
			}
			if len(d.Values) > 0 {
				x.qualifier("Values", TypeString, d.Values)
			}
		}
		w.close(el)
		w.WriteByte('\n')
	}
	for _, m := range info.methods {
		origin, propagated, skip := inherited(strings.ToLower(m.Name) + "()")
		if skip {
			continue
		}
		w.open("METHOD", "NAME", m.Name, "TYPE", TypeUint32, "CLASSORIGIN", origin, "PROPAGATED", propagated)
		w.WriteByte('\n')
		if o.qualifiers && m.Description != "" {
			x.qualifier("Description", TypeString, m.Description)
		}
		for _, pd := range m.Params {
			var el string
			switch {
			case pd.Type == TypeRef && pd.Array:
				el = "PARAMETER.REFARRAY"
				w.open(el, "NAME", pd.Name, "REFERENCECLASS", pd.RefClass)
			case pd.Type == TypeRef:
				el = "PARAMETER.REFERENCE"
				w.open(el, "NAME", pd.Name, "REFERENCECLASS", pd.RefClass)
			case pd.Array:
				el = "PARAMETER.ARRAY"
				w.open(el, "NAME", pd.Name, "TYPE", pd.Type)
			default:
				el = "PARAMETER"
				w.open(el, "NAME", pd.Name, "TYPE", pd.Type)
			}
			// In and Out say which way a parameter goes: clients need
			// them to call the method, so they come with or without
			// IncludeQualifiers.
			x.qualifier("In", TypeBoolean, pd.In)
			if pd.Out {
				x.qualifier("Out", TypeBoolean, true)
			}
			w.close(el)
			w.WriteByte('\n')
		}
		w.close("METHOD")
		w.WriteByte('\n')
	}
	w.close("CLASS")
	w.WriteByte('\n')
}

func (x *xmlOps) qualifier(name, typ string, v Value) {
	x.w.open("QUALIFIER", "NAME", name, "TYPE", typ)
	x.w.value(v)
	x.w.close("QUALIFIER")
	x.w.WriteByte('\n')
}

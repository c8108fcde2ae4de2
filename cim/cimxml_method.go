package cim

import (
	"slices"
	"strings"
	"time"
)

// methodCall carries out METHODCALL on an instance (DSP0200 5.3.3):
// parameters are converted to the types the method declares, the
// MethodRunner checks the caller's role, audits and acts, and its return
// code and out parameters are written as RETURNVALUE and PARAMVALUEs.
func (x *xmlOps) methodCall(req *xmlRequest) (xmlRender, *Error) {
	if err := x.checkNamespace(req.namespace); err != nil {
		return nil, err
	}
	if req.target.name == "LOCALCLASSPATH" {
		return nil, cimErr(ErrNotSupported, "static methods are not supported: call %s on an instance", req.method)
	}
	in := req.target.child("INSTANCENAME")
	if in == nil {
		return nil, cimErr(ErrInvalidParameter, "LOCALINSTANCEPATH names no instance")
	}
	path, err := x.instanceName(in, Namespace)
	if err != nil {
		return nil, err
	}
	info := x.class(path.Class)
	decl, ok := info.method(req.method)
	if !ok {
		return nil, cimErr(ErrMethodNotFound, "%s has no method %s", info.class.Name, req.method)
	}
	inst, gerr := x.m.Get(path)
	if gerr != nil {
		return nil, asCIMError(gerr)
	}
	args := map[string]Value{}
	for _, pv := range req.params {
		name, _ := pv.attr("NAME")
		i := slices.IndexFunc(decl.Params, func(p ParamDecl) bool { return strings.EqualFold(p.Name, name) })
		if i < 0 || !decl.Params[i].In {
			return nil, cimErr(ErrInvalidParameter, "%s has no input parameter %q", decl.Name, name)
		}
		pd := decl.Params[i]
		if _, dup := args[pd.Name]; dup {
			return nil, cimErr(ErrInvalidParameter, "parameter %s given twice", pd.Name)
		}
		v, err := x.paramValue(pd, pv)
		if err != nil {
			return nil, err
		}
		args[pd.Name] = v
	}
	if x.methods == nil {
		return nil, cimErr(ErrNotSupported, "methods are not served here")
	}
	ret, out, ierr := x.methods.Invoke(x.r.Context(), x.m.Path(inst), decl.Name, args)
	if ierr != nil {
		return nil, asCIMError(ierr)
	}
	return func() {
		w := x.w
		w.open("RETURNVALUE", "PARAMTYPE", TypeUint32)
		w.value(ret)
		w.close("RETURNVALUE")
		w.WriteByte('\n')
		// Out parameters in declaration order, then any undeclared ones a
		// runner returns, by name.
		var names []string
		for _, pd := range decl.Params {
			if _, ok := out[pd.Name]; ok {
				names = append(names, pd.Name)
			}
		}
		var extra []string
		for name := range out {
			if !slices.Contains(names, name) {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		for _, name := range append(names, extra...) {
			v := out[name]
			if v == nil {
				// A NULL out parameter is left out: an empty PARAMVALUE
				// is valid DSP0201, but SBLIM wbemcli 1.6.3 crashes on
				// one of type reference (RequestStateChange's Job).
				continue
			}
			typ := typeOf(v)
			if i := slices.IndexFunc(decl.Params, func(p ParamDecl) bool { return p.Name == name }); i >= 0 {
				typ = decl.Params[i].Type
			}
			w.open("PARAMVALUE", "NAME", name, "PARAMTYPE", typ)
			w.value(v)
			w.close("PARAMVALUE")
			w.WriteByte('\n')
		}
	}, nil
}

// paramValue converts a PARAMVALUE to the Go type of its declaration;
// an empty PARAMVALUE is NULL.
func (x *xmlOps) paramValue(pd ParamDecl, pv *xnode) (Value, *Error) {
	if len(pv.kids) == 0 {
		return nil, nil
	}
	v := pv.only()
	if v == nil {
		return nil, cimErr(ErrInvalidParameter, "parameter %s holds more than one value", pd.Name)
	}
	bad := func(format string, a ...any) *Error {
		return cimErr(ErrInvalidParameter, "parameter %s: "+format, append([]any{pd.Name}, a...)...)
	}
	switch {
	case pd.Type == TypeRef && !pd.Array:
		if v.name != "VALUE.REFERENCE" {
			return nil, bad("%s is not a VALUE.REFERENCE", v.name)
		}
		return x.reference(v)
	case pd.Type == TypeRef:
		if v.name != "VALUE.REFARRAY" {
			return nil, bad("%s is not a VALUE.REFARRAY", v.name)
		}
		var refs []ObjectPath
		for _, e := range v.kids {
			if e.name != "VALUE.REFERENCE" {
				return nil, bad("VALUE.REFARRAY holds %s", e.name)
			}
			ref, err := x.reference(e)
			if err != nil {
				return nil, err
			}
			refs = append(refs, ref)
		}
		return refs, nil
	case !pd.Array:
		if v.name != "VALUE" {
			return nil, bad("%s is not a VALUE", v.name)
		}
		val, err := parseScalar(pd.Type, v.text)
		if err != nil {
			return nil, bad("%v", err)
		}
		return val, nil
	}
	if v.name != "VALUE.ARRAY" {
		return nil, bad("%s is not a VALUE.ARRAY", v.name)
	}
	vals := make([]Value, 0, len(v.kids))
	for _, e := range v.kids {
		if e.name != "VALUE" {
			return nil, bad("VALUE.ARRAY holds %s", e.name)
		}
		val, err := parseScalar(pd.Type, e.text)
		if err != nil {
			return nil, bad("%v", err)
		}
		vals = append(vals, val)
	}
	return typedSlice(pd.Type, vals), nil
}

// typedSlice turns parsed array elements into the slice type Value
// documents for arrays of typ.
func typedSlice(typ string, vals []Value) Value {
	switch typ {
	case TypeString:
		return convertAll[string](vals)
	case TypeBoolean:
		return convertAll[bool](vals)
	case TypeUint16:
		return convertAll[uint16](vals)
	case TypeUint32:
		return convertAll[uint32](vals)
	case TypeUint64:
		return convertAll[uint64](vals)
	case TypeSint64:
		return convertAll[int64](vals)
	case TypeDatetime:
		return convertAll[time.Time](vals)
	}
	return vals
}

func convertAll[T any](vals []Value) []T {
	out := make([]T, len(vals))
	for i, v := range vals {
		out[i], _ = v.(T)
	}
	return out
}

package cim

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// RESTPrefix is where the JSON face lives.
const RESTPrefix = "/cim/v1/"

// MaxBodyBytes bounds a method call's JSON body.
const MaxBodyBytes = 64 << 10

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.0 document of the JSON face.
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

type restHandler struct {
	model   func() Model
	methods MethodRunner
	log     *slog.Logger
}

// RESTHandler serves the model as JSON under /cim/v1 (docs/cim.md,
// cim/openapi.json): classes, instances (filtered by ?Property=value),
// one instance by its id (PathID, escaped as one path segment),
// associators, references, and method calls (POST with a JSON object of
// in-parameters). Every error is a CIM error as JSON with a matching HTTP
// status. Authentication is the caller's: a method call needs a
// Principal in the request's context.
func RESTHandler(model func() Model, methods MethodRunner, log *slog.Logger) http.Handler {
	return &restHandler{model: model, methods: methods, log: log.With("component", "cim-rest")}
}

var cimErrNames = map[int]string{
	ErrFailed: "CIM_ERR_FAILED", ErrAccessDenied: "CIM_ERR_ACCESS_DENIED", ErrInvalidNamespace: "CIM_ERR_INVALID_NAMESPACE",
	ErrInvalidParameter: "CIM_ERR_INVALID_PARAMETER", ErrInvalidClass: "CIM_ERR_INVALID_CLASS", ErrNotFound: "CIM_ERR_NOT_FOUND",
	ErrNotSupported: "CIM_ERR_NOT_SUPPORTED", ErrMethodNotAvailable: "CIM_ERR_METHOD_NOT_AVAILABLE",
	ErrMethodNotFound: "CIM_ERR_METHOD_NOT_FOUND", ErrServerLimitsExceeded: "CIM_ERR_SERVER_LIMITS_EXCEEDED",
}

// httpStatus maps a CIM status code to the HTTP status of its reply.
func httpStatus(code int) int {
	switch code {
	case ErrAccessDenied:
		return http.StatusForbidden
	case ErrInvalidNamespace, ErrInvalidClass, ErrNotFound, ErrMethodNotFound:
		return http.StatusNotFound
	case ErrInvalidParameter:
		return http.StatusBadRequest
	case ErrNotSupported, ErrMethodNotAvailable:
		return http.StatusNotImplemented
	case ErrServerLimitsExceeded:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

func (h *restHandler) fail(w http.ResponseWriter, status int, err error) {
	var e *Error
	if !errors.As(err, &e) {
		h.log.Error("request failed", "err", err)
		e = &Error{Code: ErrFailed, Description: err.Error()}
	}
	if status == 0 {
		status = httpStatus(e.Code)
	}
	name := cimErrNames[e.Code]
	if name == "" {
		name = "CIM_ERR_" + strconv.Itoa(e.Code)
	}
	b, _ := json.Marshal(struct {
		Code        int    `json:"code"`
		Name        string `json:"name"`
		Description string `json:"description"`
	}{e.Code, name, e.Description})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func (h *restHandler) reply(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (h *restHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), RESTPrefix)
	if !ok {
		h.fail(w, 0, modelErr(ErrNotFound, "no resource %s (the JSON face is under %s)", r.URL.Path, RESTPrefix))
		return
	}
	var segs []string
	for _, s := range strings.Split(rest, "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			h.fail(w, 0, modelErr(ErrInvalidParameter, "malformed path: %v", err))
			return
		}
		segs = append(segs, u)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.fail(w, 0, modelErr(ErrInvalidParameter, "malformed query: %v", err))
		return
	}
	if ns := q.Get("namespace"); ns != "" && ns != Namespace {
		h.fail(w, 0, modelErr(ErrInvalidNamespace, "no namespace %q (only %s)", ns, Namespace))
		return
	}
	q.Del("namespace")
	verb := "GET"
	if len(segs) == 3 && segs[2] != "associators" && segs[2] != "references" {
		verb = "POST"
	}
	if r.Method != verb && !(verb == "GET" && r.Method == http.MethodHead) {
		w.Header().Set("Allow", verb)
		h.fail(w, http.StatusMethodNotAllowed, modelErr(ErrNotSupported, "%s is not supported here; use %s", r.Method, verb))
		return
	}
	m := h.model()
	switch {
	case len(segs) == 1 && segs[0] == "openapi.json":
		h.reply(w, openAPIDoc)
	case len(segs) == 1 && segs[0] == "classes":
		h.classes(w, m.Classes())
	case len(segs) == 2 && segs[0] == "classes":
		c, ok := m.Class(segs[1])
		if !ok {
			h.fail(w, 0, modelErr(ErrInvalidClass, "no class %s in %s", segs[1], Namespace))
			return
		}
		h.classes(w, []Class{c})
	case len(segs) == 1 && segs[0] != "":
		h.instances(w, m, segs[0], q)
	case len(segs) == 2:
		i, err := find(m, segs[0], segs[1])
		if err != nil {
			h.fail(w, 0, err)
			return
		}
		var b bytes.Buffer
		appendInstance(&b, m, i)
		b.WriteByte('\n')
		h.reply(w, b.Bytes())
	case len(segs) == 3 && verb == "GET":
		h.related(w, m, segs, q)
	case len(segs) == 3:
		h.invoke(w, r, m, segs)
	default:
		h.fail(w, 0, modelErr(ErrNotFound, "no resource %s", r.URL.Path))
	}
}

// byID is what a Model may offer to find an instance by id fast.
type byID interface {
	ByID(class, id string) (Instance, error)
}

// find returns the instance of class (or a subclass) with id.
func find(m Model, class, id string) (Instance, error) {
	if f, ok := m.(byID); ok {
		return f.ByID(class, id)
	}
	is, err := m.Instances(class)
	if err != nil {
		return Instance{}, err
	}
	for _, i := range is {
		if PathID(m.Path(i)) == id {
			return i, nil
		}
	}
	return Instance{}, modelErr(ErrNotFound, "no %s %q", class, id)
}

func (h *restHandler) instances(w http.ResponseWriter, m Model, class string, q url.Values) {
	c, ok := m.Class(class)
	if !ok {
		h.fail(w, 0, modelErr(ErrInvalidClass, "no class %s in %s", class, Namespace))
		return
	}
	type cond struct{ prop, value string }
	var conds []cond
	for k, vs := range q {
		name, ok := declaredIn(m, c.Name, k)
		if !ok {
			h.fail(w, 0, modelErr(ErrInvalidParameter, "%s and its subclasses have no property %s", c.Name, k))
			return
		}
		for _, v := range vs {
			conds = append(conds, cond{name, v})
		}
	}
	is, err := m.Instances(c.Name)
	if err != nil {
		h.fail(w, 0, err)
		return
	}
	if len(conds) > 0 {
		var out []Instance
		for _, i := range is {
			ok := true
			for _, cd := range conds {
				ok = ok && matches(m, i.Get(cd.prop), cd.value)
			}
			if ok {
				out = append(out, i)
			}
		}
		is = out
	}
	h.list(w, m, c.Name, is)
}

// declaredIn finds property name (case-insensitively) in class or one of
// its subclasses and returns it as declared.
func declaredIn(m Model, class, name string) (string, bool) {
	for _, c := range m.Classes() {
		if !classes.isA(c.Name, class) {
			continue
		}
		for _, p := range c.Properties {
			if strings.EqualFold(p.Name, name) {
				return p.Name, true
			}
		}
	}
	return "", false
}

// matches compares a value with a filter by its string form: strings as
// they are, numbers in decimal, booleans true/false, datetimes in RFC
// 3339, references by id; an array matches when one element does.
func matches(m Model, v Value, want string) bool {
	switch x := v.(type) {
	case nil:
		return false
	case []string:
		for _, e := range x {
			if e == want {
				return true
			}
		}
		return false
	case []uint16:
		for _, e := range x {
			if strconv.FormatUint(uint64(e), 10) == want {
				return true
			}
		}
		return false
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano) == want
	case ObjectPath:
		return PathID(x) == want
	}
	return fmt.Sprint(v) == want
}

func (h *restHandler) related(w http.ResponseWriter, m Model, segs []string, q url.Values) {
	allowed := map[string]bool{"assocClass": true, "resultClass": true, "role": true, "resultRole": true}
	if segs[2] == "references" {
		allowed = map[string]bool{"resultClass": true, "role": true}
	}
	for k := range q {
		if !allowed[k] {
			h.fail(w, 0, modelErr(ErrInvalidParameter, "unknown parameter %s of %s", k, segs[2]))
			return
		}
	}
	i, err := find(m, segs[0], segs[1])
	if err != nil {
		h.fail(w, 0, err)
		return
	}
	var is []Instance
	if segs[2] == "references" {
		is, err = m.References(m.Path(i), q.Get("resultClass"), q.Get("role"))
	} else {
		is, err = m.Associators(m.Path(i), q.Get("assocClass"), q.Get("resultClass"), q.Get("role"), q.Get("resultRole"))
	}
	if err != nil {
		h.fail(w, 0, err)
		return
	}
	h.list(w, m, "", is)
}

func (h *restHandler) list(w http.ResponseWriter, m Model, class string, is []Instance) {
	var b bytes.Buffer
	b.Grow(len(is) * 1500)
	b.WriteString(`{"namespace":"` + Namespace + `",`)
	if class != "" {
		b.WriteString(`"class":`)
		appendString(&b, class)
		b.WriteByte(',')
	}
	b.WriteString(`"count":` + strconv.Itoa(len(is)) + `,"instances":[`)
	for n, i := range is {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n")
		appendInstance(&b, m, i)
	}
	b.WriteString("\n]}\n")
	h.reply(w, b.Bytes())
}

// Href is the URL path of an instance.
func Href(p ObjectPath) string {
	return RESTPrefix + url.PathEscape(p.Class) + "/" + url.PathEscape(PathID(p))
}

func appendInstance(b *bytes.Buffer, m Model, i Instance) {
	p := m.Path(i)
	b.WriteString(`{"class":`)
	appendString(b, i.Class)
	b.WriteString(`,"id":`)
	appendString(b, PathID(p))
	b.WriteString(`,"href":`)
	appendString(b, Href(p))
	b.WriteString(`,"path":`)
	appendPath(b, p)
	b.WriteString(`,"properties":{`)
	for n, pr := range i.Properties {
		if n > 0 {
			b.WriteByte(',')
		}
		appendString(b, pr.Name)
		b.WriteByte(':')
		appendValue(b, pr.Value)
	}
	b.WriteString("}}")
}

func appendPath(b *bytes.Buffer, p ObjectPath) {
	ns := p.Namespace
	if ns == "" {
		ns = Namespace
	}
	b.WriteString(`{"namespace":`)
	appendString(b, ns)
	b.WriteString(`,"class":`)
	appendString(b, p.Class)
	b.WriteString(`,"keys":{`)
	for n, k := range p.Keys {
		if n > 0 {
			b.WriteByte(',')
		}
		appendString(b, k.Name)
		b.WriteByte(':')
		appendValue(b, k.Value)
	}
	b.WriteString(`},"id":`)
	appendString(b, PathID(p))
	b.WriteString(`,"href":`)
	appendString(b, Href(p))
	b.WriteByte('}')
}

// appendValue writes a property value as JSON: datetimes in RFC 3339
// (UTC), references as path objects, NULL as null.
func appendValue(b *bytes.Buffer, v Value) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		appendString(b, x)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case uint8:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint16:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint32:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case time.Time:
		appendString(b, x.UTC().Format(time.RFC3339Nano))
	case ObjectPath:
		appendPath(b, x)
	case []string:
		b.WriteByte('[')
		for n, e := range x {
			if n > 0 {
				b.WriteByte(',')
			}
			appendString(b, e)
		}
		b.WriteByte(']')
	case []uint16:
		b.WriteByte('[')
		for n, e := range x {
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(uint64(e), 10))
		}
		b.WriteByte(']')
	default:
		j, err := json.Marshal(x)
		if err != nil {
			b.WriteString("null")
			return
		}
		b.Write(j)
	}
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, invalid UTF-8 replaced as
// encoding/json does.
func appendString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\t':
				b.WriteString(`\t`)
			case '\r':
				b.WriteString(`\r`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

type jsonProp struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Array       bool     `json:"array,omitempty"`
	Key         bool     `json:"key,omitempty"`
	RefClass    string   `json:"refClass,omitempty"`
	Description string   `json:"description,omitempty"`
	ValueMap    []string `json:"valueMap,omitempty"`
	Values      []string `json:"values,omitempty"`
}

type jsonParam struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	In       bool   `json:"in,omitempty"`
	Out      bool   `json:"out,omitempty"`
	Array    bool   `json:"array,omitempty"`
	RefClass string `json:"refClass,omitempty"`
}

type jsonMethod struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Role        string      `json:"role"`
	Parameters  []jsonParam `json:"parameters"`
}

type jsonClass struct {
	Name        string       `json:"name"`
	SuperClass  string       `json:"superClass,omitempty"`
	Description string       `json:"description,omitempty"`
	Association bool         `json:"association,omitempty"`
	Properties  []jsonProp   `json:"properties"`
	Methods     []jsonMethod `json:"methods,omitempty"`
}

func (h *restHandler) classes(w http.ResponseWriter, cs []Class) {
	out := struct {
		Namespace string      `json:"namespace"`
		Classes   []jsonClass `json:"classes"`
	}{Namespace: Namespace}
	for _, c := range cs {
		jc := jsonClass{Name: c.Name, SuperClass: c.Super, Description: c.Description, Association: c.Association,
			Properties: []jsonProp{}}
		for _, p := range c.Properties {
			jc.Properties = append(jc.Properties, jsonProp{Name: p.Name, Type: p.Type, Array: p.Array, Key: p.Key,
				RefClass: p.RefClass, Description: p.Description, ValueMap: p.ValueMap, Values: p.Values})
		}
		for _, m := range c.Methods {
			jm := jsonMethod{Name: m.Name, Description: m.Description, Role: m.Role, Parameters: []jsonParam{}}
			for _, p := range m.Params {
				jm.Parameters = append(jm.Parameters, jsonParam(p))
			}
			jc.Methods = append(jc.Methods, jm)
		}
		out.Classes = append(out.Classes, jc)
	}
	b, _ := json.MarshalIndent(out, "", " ")
	h.reply(w, append(b, '\n'))
}

// Names of method return values, for the JSON reply.
var returnNames = map[string]map[uint32]string{
	"RequestStateChange": {0: "Completed with No Error", 1: "Not Supported", 2: "Unknown or Unspecified Error",
		3: "Cannot complete within Timeout Period", 4: "Failed", 5: "Invalid Parameter", 6: "In Use",
		4096: "Method Parameters Checked - Job Started", 4097: "Invalid State Transition",
		4098: "Use of Timeout Parameter Not Supported", 4099: "Busy"},
	"Failover": {0: "Completed with No Error", 1: "Not Supported", 2: "Unknown/Unspecified Error", 3: "Busy/In Use",
		4: "Parameter Error"},
}

func (h *restHandler) invoke(w http.ResponseWriter, r *http.Request, m Model, segs []string) {
	c, ok := m.Class(segs[0])
	if !ok {
		h.fail(w, 0, modelErr(ErrInvalidClass, "no class %s in %s", segs[0], Namespace))
		return
	}
	var decl *MethodDecl
	for i := range c.Methods {
		if strings.EqualFold(c.Methods[i].Name, segs[2]) {
			decl = &c.Methods[i]
		}
	}
	if decl == nil {
		h.fail(w, 0, modelErr(ErrMethodNotFound, "%s has no method %s", c.Name, segs[2]))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, 0, modelErr(ErrServerLimitsExceeded, "the body is larger than %d bytes", MaxBodyBytes))
			return
		}
		h.fail(w, http.StatusBadRequest, modelErr(ErrInvalidParameter, "reading the body: %v", err))
		return
	}
	in, err := decodeParams(m, *decl, body)
	if err != nil {
		h.fail(w, 0, err)
		return
	}
	i, err := find(m, c.Name, segs[1])
	if err != nil {
		h.fail(w, 0, err)
		return
	}
	ret, out, err := h.methods.Invoke(r.Context(), m.Path(i), decl.Name, in)
	if err != nil {
		h.fail(w, 0, err)
		return
	}
	var b bytes.Buffer
	b.WriteString(`{"ReturnValue":` + strconv.FormatUint(uint64(ret), 10) + `,"ReturnValueName":`)
	appendString(&b, returnNames[decl.Name][ret])
	b.WriteString(`,"out":{`)
	n := 0
	for _, p := range decl.Params {
		if !p.Out {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		appendString(&b, p.Name)
		b.WriteByte(':')
		appendValue(&b, out[p.Name])
	}
	b.WriteString("}}\n")
	h.reply(w, b.Bytes())
}

// decodeParams turns a JSON object of in-parameters into Values of their
// declared types. A reference is an object {"class": ..., "keys": {...}}
// (a path as the instances show it) or {"class": ..., "id": ...}.
func decodeParams(m Model, decl MethodDecl, body []byte) (map[string]Value, error) {
	in := map[string]Value{}
	if len(bytes.TrimSpace(body)) == 0 {
		return in, nil
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, modelErr(ErrInvalidParameter, "malformed JSON body: %v", err)
	}
	if raw == nil {
		return nil, modelErr(ErrInvalidParameter, "the body must be a JSON object of in-parameters")
	}
	if dec.More() {
		return nil, modelErr(ErrInvalidParameter, "malformed JSON body: more than one value")
	}
	for k, rv := range raw {
		var pd *ParamDecl
		for i := range decl.Params {
			if decl.Params[i].In && strings.EqualFold(decl.Params[i].Name, k) {
				pd = &decl.Params[i]
			}
		}
		if pd == nil {
			return nil, modelErr(ErrInvalidParameter, "%s has no in-parameter %s", decl.Name, k)
		}
		if bytes.Equal(bytes.TrimSpace(rv), []byte("null")) {
			in[pd.Name] = nil
			continue
		}
		v, err := decodeParam(m, *pd, rv)
		if err != nil {
			return nil, err
		}
		in[pd.Name] = v
	}
	return in, nil
}

func decodeParam(m Model, p ParamDecl, rv json.RawMessage) (Value, error) {
	bad := func(format string, args ...any) error {
		return modelErr(ErrInvalidParameter, "parameter %s: "+format, append([]any{p.Name}, args...)...)
	}
	switch p.Type {
	case TypeRef:
		var r struct {
			Namespace string            `json:"namespace"`
			Class     string            `json:"class"`
			ID        *string           `json:"id"`
			Keys      map[string]string `json:"keys"`
		}
		if err := json.Unmarshal(rv, &r); err != nil || r.Class == "" {
			return nil, bad(`want a reference {"class": ..., "id": ...} or {"class": ..., "keys": {...}}`)
		}
		if r.Keys != nil {
			op := ObjectPath{Namespace: r.Namespace, Class: r.Class}
			for k, v := range r.Keys {
				op.Keys = append(op.Keys, KeyBinding{Name: k, Value: v})
			}
			return op, nil
		}
		if r.ID == nil {
			return nil, bad("a reference needs keys or an id")
		}
		i, err := find(m, r.Class, *r.ID)
		if err != nil {
			return nil, bad("%v", err)
		}
		return m.Path(i), nil
	case TypeUint16:
		var n json.Number
		if err := json.Unmarshal(rv, &n); err != nil {
			return nil, bad("want an integer")
		}
		u, ok := asUint16(n)
		if !ok {
			return nil, bad("%s is not a uint16", n)
		}
		return u, nil
	case TypeString, TypeDatetime:
		var s string
		if err := json.Unmarshal(rv, &s); err != nil {
			return nil, bad("want a string")
		}
		return s, nil
	case TypeBoolean:
		var v bool
		if err := json.Unmarshal(rv, &v); err != nil {
			return nil, bad("want true or false")
		}
		return v, nil
	}
	var v any
	if err := json.Unmarshal(rv, &v); err != nil {
		return nil, bad("%v", err)
	}
	return v, nil
}

package cim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strings"
)

// xmlMaxBody is the largest request body /cimom reads (413 beyond it).
const xmlMaxBody = 1 << 20

// CIMXMLHandler serves CIM operations over HTTP (DMTF DSP0200 1.4) with
// messages in CIM-XML (DSP0201 2.4): the intrinsic read operations on
// classes, instances and associations of the one namespace root/drover,
// and extrinsic method calls through methods. Each request reads the one
// Model that model returns for it.
//
// Authentication happens before the handler (the server puts a Principal
// in the request's context); methods checks roles and audits.
func CIMXMLHandler(model func() Model, methods MethodRunner, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &cimxmlHandler{model: model, methods: methods, log: log.With("component", "cimxml")}
}

type cimxmlHandler struct {
	model   func() Model
	methods MethodRunner
	log     *slog.Logger
}

// manCIMMapping is the extension an M-POST request declares in its Man
// header (DSP0200 section 6.2, RFC 2774).
const manCIMMapping = "http://www.dmtf.org/cim/mapping/http/v1.0"

func (h *cimxmlHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// prefix is the RFC 2774 header prefix "NN-" of an M-POST request.
	prefix := ""
	switch r.Method {
	case http.MethodPost:
	case "M-POST":
		ns, ok := manNamespace(r.Header.Values("Man"))
		if !ok {
			h.refuse(w, r, http.StatusNotExtended, "", "", "M-POST without the CIM mapping in Man")
			return
		}
		prefix = ns + "-"
	default:
		w.Header().Set("Allow", "POST, M-POST")
		h.refuse(w, r, http.StatusMethodNotAllowed, "", "", r.Method)
		return
	}
	header := func(name string) string { return r.Header.Get(prefix + name) }

	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil ||
		(mt != "application/xml" && mt != "text/xml") ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		h.refuse(w, r, http.StatusUnsupportedMediaType, "", prefix, "Content-Type "+r.Header.Get("Content-Type"))
		return
	}
	if op := header("CIMOperation"); !strings.EqualFold(op, "MethodCall") {
		h.refuse(w, r, http.StatusBadRequest, "unsupported-operation", prefix, "CIMOperation "+op)
		return
	}
	if v := header("CIMProtocolVersion"); v != "" && !strings.HasPrefix(v, "1.") {
		h.refuse(w, r, http.StatusNotImplemented, "unsupported-protocol-version", prefix, "CIMProtocolVersion "+v)
		return
	}
	if r.ContentLength > xmlMaxBody {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, "", prefix, "body too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, xmlMaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, "", prefix, "body too large")
			return
		}
		h.refuse(w, r, http.StatusBadRequest, "", prefix, "reading body: "+err.Error())
		return
	}
	req, err := decodeRequest(body)
	if err != nil {
		var he *xmlHTTPError
		if errors.As(err, &he) {
			h.refuse(w, r, he.status, he.cimError, prefix, he.detail)
			return
		}
		h.refuse(w, r, http.StatusBadRequest, "request-not-valid", prefix, err.Error())
		return
	}
	if detail := checkHeaders(req, header("CIMMethod"), header("CIMObject")); detail != "" {
		h.refuse(w, r, http.StatusBadRequest, "header-mismatch", prefix, detail)
		return
	}

	host := r.Host
	if host == "" {
		host = "localhost"
	}
	x := &xmlOps{
		m:       h.model(),
		methods: h.methods,
		r:       r,
		classes: map[string]*xmlClassInfo{},
	}
	render, cerr := x.prepare(req)
	out := w.Header()
	out.Set("Content-Type", `application/xml; charset="utf-8"`)
	out.Set(prefix+"CIMOperation", "MethodResponse")
	if prefix != "" {
		out.Set("Ext", "")
	}
	w.WriteHeader(http.StatusOK)
	// The response streams: ten thousand instances need not sit in memory.
	bw := bufio.NewWriterSize(w, 64<<10)
	x.w = &xmlWriter{Writer: bw, host: host}
	x.respond(req, render, cerr)
	if err := bw.Flush(); err != nil {
		h.log.Debug("writing response", "remote", r.RemoteAddr, "err", err)
	}
}

// refuse answers a request that is not carried out, with CIMError when
// DSP0200 names one for the case.
func (h *cimxmlHandler) refuse(w http.ResponseWriter, r *http.Request, status int, cimError, prefix, detail string) {
	if cimError != "" {
		w.Header().Set(prefix+"CIMError", cimError)
	}
	h.log.Debug("request refused", "remote", r.RemoteAddr, "status", status, "cim_error", cimError, "detail", detail)
	http.Error(w, http.StatusText(status)+": "+detail, status)
}

// manNamespace returns the header prefix an M-POST's Man header assigns
// to the CIM mapping: `"http://www.dmtf.org/cim/mapping/http/v1.0"; ns=73`.
func manNamespace(values []string) (string, bool) {
	for _, v := range values {
		for ext := range strings.SplitSeq(v, ",") {
			parts := strings.Split(ext, ";")
			if strings.Trim(strings.TrimSpace(parts[0]), `"`) != manCIMMapping {
				continue
			}
			for _, p := range parts[1:] {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.TrimSpace(k) == "ns" {
					val = strings.TrimSpace(val)
					if val != "" && strings.Trim(val, "0123456789") == "" {
						return val, true
					}
				}
			}
		}
	}
	return "", false
}

// checkHeaders compares CIMMethod and CIMObject (DSP0200 6.3.5, 6.3.6)
// with the body; it returns what differs, "" when they agree. For a
// method call only the namespace and class of CIMObject are compared:
// clients quote and order key values in the header in different ways.
func checkHeaders(req *xmlRequest, method, object string) string {
	if method == "" {
		return "no CIMMethod header"
	}
	if m, err := url.PathUnescape(method); err != nil || !strings.EqualFold(m, req.method) {
		return fmt.Sprintf("CIMMethod %q, body calls %q", method, req.method)
	}
	if object == "" {
		return "no CIMObject header"
	}
	obj, err := url.PathUnescape(object)
	if err != nil {
		return fmt.Sprintf("CIMObject %q is not escaped correctly", object)
	}
	ns, _ := namespaceName(req.namespace)
	if req.intrinsic {
		if !strings.EqualFold(strings.Trim(obj, "/"), ns) {
			return fmt.Sprintf("CIMObject %q, body names namespace %q", obj, ns)
		}
		return ""
	}
	hns, rest, _ := strings.Cut(obj, ":")
	class, _, _ := strings.Cut(rest, ".")
	bodyClass := ""
	if req.target != nil {
		if in := req.target.child("INSTANCENAME"); in != nil {
			bodyClass, _ = in.attr("CLASSNAME")
		} else if cn := req.target.child("CLASSNAME"); cn != nil {
			bodyClass, _ = cn.attr("NAME")
		}
	}
	if !strings.EqualFold(strings.Trim(hns, "/"), ns) || !strings.EqualFold(class, bodyClass) {
		return fmt.Sprintf("CIMObject %q, body names %s:%s", obj, ns, bodyClass)
	}
	return ""
}

// xmlOps carries out one request against one Model snapshot.
type xmlOps struct {
	m       Model
	methods MethodRunner
	r       *http.Request
	w       *xmlWriter
	classes map[string]*xmlClassInfo // by lower-case name; nil entries for unknown classes
}

// prepare carries out req against the model: what to render when it
// succeeded, else the CIM error to answer with.
func (x *xmlOps) prepare(req *xmlRequest) (xmlRender, *Error) {
	if !req.intrinsic {
		return x.methodCall(req)
	}
	if err := x.checkNamespace(req.namespace); err != nil {
		return nil, err
	}
	op, ok := xmlIntrinsics[strings.ToLower(req.method)]
	if !ok {
		return nil, cimErr(ErrNotSupported, "%s is not supported", req.method)
	}
	p, err := x.params(req.params, op.params)
	if err != nil {
		return nil, err
	}
	return op.run(x, p)
}

// respond writes the whole response message: the result render writes
// or the error.
func (x *xmlOps) respond(req *xmlRequest, render xmlRender, err *Error) {
	w := x.w
	w.WriteString(`<?xml version="1.0" encoding="utf-8" ?>` + "\n")
	w.open("CIM", "CIMVERSION", "2.0", "DTDVERSION", "2.0")
	w.WriteByte('\n')
	w.open("MESSAGE", "ID", req.id, "PROTOCOLVERSION", "1.0")
	w.WriteByte('\n')
	w.open("SIMPLERSP")
	w.WriteByte('\n')
	el, name := "METHODRESPONSE", req.method
	if req.intrinsic {
		el = "IMETHODRESPONSE"
		if op, ok := xmlIntrinsics[strings.ToLower(name)]; ok {
			name = op.name
		}
	}
	w.open(el, "NAME", name)
	w.WriteByte('\n')
	if err != nil {
		w.errorElement(err)
		w.WriteByte('\n')
	} else {
		render()
	}
	w.close(el)
	w.WriteByte('\n')
	w.close("SIMPLERSP")
	w.WriteByte('\n')
	w.close("MESSAGE")
	w.WriteByte('\n')
	w.close("CIM")
	w.WriteByte('\n')
}

func (x *xmlOps) checkNamespace(kids []*xnode) *Error {
	ns, err := namespaceName(kids)
	if err != nil {
		return err.(*Error)
	}
	if !strings.EqualFold(ns, Namespace) {
		return cimErr(ErrInvalidNamespace, "namespace %q does not exist (Drover serves %s)", ns, Namespace)
	}
	return nil
}

// asCIMError turns a Model's or MethodRunner's error into the *Error the
// response carries.
func asCIMError(err error) *Error {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e
	}
	return &Error{Code: ErrFailed, Description: err.Error()}
}

// xmlClassInfo is a class with what it inherits from the classes of the
// model above it.
type xmlClassInfo struct {
	class Class
	// props and methods include inherited ones, superclass's first.
	props   []PropertyDecl
	methods []MethodDecl
	// propIndex and methodIndex are by lower-case name.
	propIndex   map[string]int
	methodIndex map[string]int
	// origin is the class that defines each property and method (by
	// lower-case name, methods as "name()").
	origin map[string]string
	// ancestors are the lower-case names of the superclasses in the model.
	ancestors map[string]bool
	keys      []PropertyDecl
}

// class returns what the model says of a class, nil if it has none.
func (x *xmlOps) class(name string) *xmlClassInfo {
	lname := strings.ToLower(name)
	if info, ok := x.classes[lname]; ok {
		return info
	}
	c, ok := x.m.Class(name)
	if !ok {
		x.classes[lname] = nil
		return nil
	}
	chain := []Class{c}
	seen := map[string]bool{strings.ToLower(c.Name): true}
	for sup := c.Super; sup != "" && !seen[strings.ToLower(sup)]; {
		sc, ok := x.m.Class(sup)
		if !ok {
			break
		}
		seen[strings.ToLower(sc.Name)] = true
		chain = append(chain, sc)
		sup = sc.Super
	}
	info := &xmlClassInfo{
		class:       c,
		propIndex:   map[string]int{},
		methodIndex: map[string]int{},
		origin:      map[string]string{},
		ancestors:   map[string]bool{},
	}
	for _, a := range chain[1:] {
		info.ancestors[strings.ToLower(a.Name)] = true
	}
	// A class that repeats an inherited declaration unchanged does not
	// override it: models may list every property in every class.
	for i := len(chain) - 1; i >= 0; i-- {
		cl := chain[i]
		for _, p := range cl.Properties {
			ln := strings.ToLower(p.Name)
			if j, ok := info.propIndex[ln]; ok {
				if !reflect.DeepEqual(info.props[j], p) {
					info.props[j] = p
					info.origin[ln] = cl.Name
				}
				continue
			}
			info.propIndex[ln] = len(info.props)
			info.props = append(info.props, p)
			info.origin[ln] = cl.Name
		}
		for _, m := range cl.Methods {
			ln := strings.ToLower(m.Name)
			if j, ok := info.methodIndex[ln]; ok {
				if !reflect.DeepEqual(info.methods[j], m) {
					info.methods[j] = m
					info.origin[ln+"()"] = cl.Name
				}
				continue
			}
			info.methodIndex[ln] = len(info.methods)
			info.methods = append(info.methods, m)
			info.origin[ln+"()"] = cl.Name
		}
	}
	for _, p := range info.props {
		if p.Key {
			info.keys = append(info.keys, p)
		}
	}
	x.classes[lname] = info
	x.classes[strings.ToLower(c.Name)] = info
	return info
}

func (info *xmlClassInfo) prop(name string) (PropertyDecl, bool) {
	if info == nil {
		return PropertyDecl{}, false
	}
	i, ok := info.propIndex[strings.ToLower(name)]
	if !ok {
		return PropertyDecl{}, false
	}
	return info.props[i], true
}

func (info *xmlClassInfo) method(name string) (MethodDecl, bool) {
	i, ok := info.methodIndex[strings.ToLower(name)]
	if !ok {
		return MethodDecl{}, false
	}
	return info.methods[i], true
}

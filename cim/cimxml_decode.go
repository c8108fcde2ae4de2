package cim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Limits of a CIM-XML request body once it is within the byte limit: a
// reference key nests four elements per level, so 64 levels is far more
// than any real path, and 100 000 elements is what 1 MiB of the densest
// valid request holds.
const (
	xmlMaxDepth    = 64
	xmlMaxElements = 100_000
)

// xnode is one element of a parsed request: DSP0201 requests are small
// and their meaning depends on siblings (KEYBINDING, IPARAMVALUE), so the
// decoder builds a tree and the operations read it.
type xnode struct {
	name  string
	attrs []xml.Attr
	kids  []*xnode
	text  string // character data directly inside, concatenated
}

func (n *xnode) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// child returns the first child element named name, or nil.
func (n *xnode) child(name string) *xnode {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// only returns the single child element of n, or nil when there is none
// or more than one.
func (n *xnode) only() *xnode {
	if len(n.kids) != 1 {
		return nil
	}
	return n.kids[0]
}

// errNotWellFormed is a body that is not XML at all (CIMError:
// request-not-well-formed); errNotValid is XML that is not a CIM request
// (request-not-valid).
var (
	errNotWellFormed = errors.New("request not well-formed")
	errNotValid      = errors.New("request not valid")
)

// parseXML reads one document into a tree within the depth and element
// limits. Go's encoding/xml never expands external or custom entities;
// Strict refuses the undefined ones.
func parseXML(body []byte) (*xnode, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var (
		root  *xnode
		stack []*xnode
		text  [][]byte // character data of the open elements
		count int
	)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNotWellFormed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, fmt.Errorf("%w: more than one root element", errNotWellFormed)
			}
			if len(stack) >= xmlMaxDepth {
				return nil, fmt.Errorf("%w: elements nested deeper than %d", errNotValid, xmlMaxDepth)
			}
			if count++; count > xmlMaxElements {
				return nil, fmt.Errorf("%w: more than %d elements", errNotValid, xmlMaxElements)
			}
			if t.Name.Space != "" {
				return nil, fmt.Errorf("%w: element %s:%s has a namespace prefix", errNotValid, t.Name.Space, t.Name.Local)
			}
			n := &xnode{name: t.Name.Local, attrs: t.Attr}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
			text = append(text, nil)
		case xml.EndElement:
			// RawToken does not match end tags with start tags.
			if len(stack) == 0 || stack[len(stack)-1].name != t.Name.Local || t.Name.Space != "" {
				return nil, fmt.Errorf("%w: unexpected </%s>", errNotWellFormed, t.Name.Local)
			}
			stack[len(stack)-1].text = string(text[len(text)-1])
			stack, text = stack[:len(stack)-1], text[:len(text)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, fmt.Errorf("%w: text outside the root element", errNotWellFormed)
				}
				continue
			}
			text[len(text)-1] = append(text[len(text)-1], t...)
		case xml.Directive:
			// A DOCTYPE is allowed (DSP0201 messages may name the DTD);
			// its internal subset is never used.
		}
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("%w: unclosed <%s>", errNotWellFormed, stack[len(stack)-1].name)
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", errNotWellFormed)
	}
	return root, nil
}

// xmlRequest is the decoded SIMPLEREQ of a message.
type xmlRequest struct {
	id        string
	intrinsic bool   // IMETHODCALL, else METHODCALL
	method    string // its NAME
	namespace []*xnode
	// target is METHODCALL's LOCALINSTANCEPATH or LOCALCLASSPATH.
	target *xnode
	params []*xnode // IPARAMVALUE or PARAMVALUE elements
}

// xmlHTTPError is a request refused before any operation runs: an HTTP
// status and the CIMError header's value (DSP0200 section 7.x).
type xmlHTTPError struct {
	status   int
	cimError string
	detail   string
}

func (e *xmlHTTPError) Error() string { return e.cimError + ": " + e.detail }

// decodeRequest checks the CIM and MESSAGE envelopes and returns the one
// method call of a SIMPLEREQ.
func decodeRequest(body []byte) (*xmlRequest, error) {
	root, err := parseXML(body)
	if err != nil {
		if errors.Is(err, errNotWellFormed) {
			return nil, &xmlHTTPError{400, "request-not-well-formed", err.Error()}
		}
		return nil, &xmlHTTPError{400, "request-not-valid", err.Error()}
	}
	invalid := func(format string, a ...any) error {
		return &xmlHTTPError{400, "request-not-valid", fmt.Sprintf(format, a...)}
	}
	if root.name != "CIM" {
		return nil, invalid("root element is %s, not CIM", root.name)
	}
	cimv, _ := root.attr("CIMVERSION")
	if !strings.HasPrefix(cimv, "2.") {
		return nil, &xmlHTTPError{501, "unsupported-cim-version", fmt.Sprintf("CIMVERSION %q", cimv)}
	}
	dtdv, _ := root.attr("DTDVERSION")
	if !strings.HasPrefix(dtdv, "2.") {
		return nil, &xmlHTTPError{501, "unsupported-dtd-version", fmt.Sprintf("DTDVERSION %q", dtdv)}
	}
	msg := root.only()
	if msg == nil || msg.name != "MESSAGE" {
		return nil, invalid("CIM holds no single MESSAGE")
	}
	pv, _ := msg.attr("PROTOCOLVERSION")
	if !strings.HasPrefix(pv, "1.") {
		return nil, &xmlHTTPError{501, "unsupported-protocol-version", fmt.Sprintf("PROTOCOLVERSION %q", pv)}
	}
	req := &xmlRequest{}
	req.id, _ = msg.attr("ID")
	body1 := msg.only()
	switch {
	case body1 == nil:
		return nil, invalid("MESSAGE holds no single request")
	case body1.name == "MULTIREQ":
		return nil, &xmlHTTPError{501, "multiple-requests-unsupported", "MULTIREQ"}
	case body1.name != "SIMPLEREQ":
		return nil, invalid("MESSAGE holds %s, not SIMPLEREQ", body1.name)
	}
	var call *xnode
	for _, k := range body1.kids {
		switch k.name {
		case "IMETHODCALL", "METHODCALL":
			if call != nil {
				return nil, invalid("SIMPLEREQ holds more than one call")
			}
			call = k
		case "CORRELATOR":
		default:
			return nil, invalid("SIMPLEREQ holds %s", k.name)
		}
	}
	if call == nil {
		return nil, invalid("SIMPLEREQ holds no call")
	}
	req.intrinsic = call.name == "IMETHODCALL"
	req.method, _ = call.attr("NAME")
	if req.method == "" {
		return nil, invalid("%s has no NAME", call.name)
	}
	for _, k := range call.kids {
		switch {
		case req.intrinsic && k.name == "LOCALNAMESPACEPATH" && req.namespace == nil:
			req.namespace = k.kids
		case !req.intrinsic && (k.name == "LOCALINSTANCEPATH" || k.name == "LOCALCLASSPATH") && req.target == nil:
			req.target = k
			if ns := k.child("LOCALNAMESPACEPATH"); ns != nil {
				req.namespace = ns.kids
			}
		case req.intrinsic && k.name == "IPARAMVALUE", !req.intrinsic && k.name == "PARAMVALUE":
			req.params = append(req.params, k)
		default:
			return nil, invalid("%s holds %s", call.name, k.name)
		}
	}
	if req.namespace == nil {
		return nil, invalid("%s names no namespace", call.name)
	}
	return req, nil
}

// namespaceName joins the NAMESPACE elements of a LOCALNAMESPACEPATH.
func namespaceName(kids []*xnode) (string, error) {
	var parts []string
	for _, k := range kids {
		name, ok := k.attr("NAME")
		if k.name != "NAMESPACE" || !ok {
			return "", cimErr(ErrInvalidNamespace, "LOCALNAMESPACEPATH holds %s", k.name)
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, "/"), nil
}

func cimErr(code int, format string, a ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, a...)}
}

// xmlBool reads a VALUE holding TRUE or FALSE (DSP0201: case-insensitive).
func xmlBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// parseScalar converts the text of a VALUE or KEYVALUE to the Go type of
// the CIM type typ (see Value).
func parseScalar(typ, s string) (Value, error) {
	switch typ {
	case TypeString, "":
		return s, nil
	case TypeBoolean:
		b, ok := xmlBool(s)
		if !ok {
			return nil, fmt.Errorf("%q is not a boolean", s)
		}
		return b, nil
	case TypeUint16:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 0, 16)
		return uint16(n), err
	case TypeUint32:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 0, 32)
		return uint32(n), err
	case TypeUint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 0, 64)
		return n, err
	case TypeSint64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64)
		return n, err
	case TypeDatetime:
		return parseDatetime(strings.TrimSpace(s))
	}
	return nil, fmt.Errorf("values of type %s are not supported", typ)
}

// parseDatetime reads a CIM timestamp yyyymmddHHMMSS.mmmmmmsUUU (DSP0004
// 5.2.4), UUU the offset from UTC in minutes. Intervals and wildcards are
// refused.
func parseDatetime(s string) (time.Time, error) {
	if len(s) != 25 || s[14] != '.' || (s[21] != '+' && s[21] != '-') {
		return time.Time{}, fmt.Errorf("%q is not a CIM timestamp", s)
	}
	num := func(from, to int) (int, error) { return strconv.Atoi(s[from:to]) }
	var f [8]int
	for i, r := range [][2]int{{0, 4}, {4, 6}, {6, 8}, {8, 10}, {10, 12}, {12, 14}, {15, 21}, {22, 25}} {
		n, err := num(r[0], r[1])
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%q is not a CIM timestamp", s)
		}
		f[i] = n
	}
	off := f[7] * 60
	if s[21] == '-' {
		off = -off
	}
	t := time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], f[6]*1000, time.FixedZone("", off))
	if t.Month() != time.Month(f[1]) || t.Day() != f[2] || f[3] > 23 || f[4] > 59 || f[5] > 60 {
		return time.Time{}, fmt.Errorf("%q is not a CIM timestamp", s)
	}
	return t.UTC(), nil
}

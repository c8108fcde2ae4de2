package cim

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/droverha/drover/internal/golden"
	"github.com/google/go-cmp/cmp"
)

func init() {
	// Other test files of the package may define -update too; the flag is
	// shared and looked up when used.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

// xmlUpdating reports whether the test binary runs with -update.
func xmlUpdating() bool {
	f := flag.Lookup("update")
	if f == nil {
		return false
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	b, _ := g.Get().(bool)
	return b
}

var (
	xmlMethodRE    = regexp.MustCompile(`<I?METHODCALL NAME="([^"]*)"`)
	xmlNamespaceRE = regexp.MustCompile(`<NAMESPACE NAME="([^"]*)"`)
	xmlClassRE     = regexp.MustCompile(`<LOCALINSTANCEPATH>[^<]*<LOCALNAMESPACEPATH>.*?</LOCALNAMESPACEPATH>\s*<INSTANCENAME CLASSNAME="([^"]*)"`)
)

// xmlHeaders returns the DSP0200 headers a client sends with body.
func xmlHeaders(body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", `application/xml; charset="utf-8"`)
	h.Set("CIMOperation", "MethodCall")
	h.Set("CIMProtocolVersion", "1.0")
	if m := xmlMethodRE.FindSubmatch(body); m != nil {
		h.Set("CIMMethod", string(m[1]))
	}
	var ns []string
	for _, m := range xmlNamespaceRE.FindAllSubmatch(body, 2) {
		ns = append(ns, string(m[1]))
	}
	obj := strings.Join(ns, "/")
	if m := xmlClassRE.FindSubmatch(body); m != nil {
		obj += ":" + string(m[1]) + `.Name="dir1"`
	}
	h.Set("CIMObject", strings.NewReplacer("/", "%2F", ":", "%3A", `"`, "%22", "=", "%3D").Replace(obj))
	return h
}

// xmlServe sends body to h as POST /cimom with hdr.
func xmlServe(h http.Handler, hdr http.Header, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "http://drover.example:5988/cimom", bytes.NewReader(body))
	req.Header = hdr.Clone()
	req = req.WithContext(WithPrincipal(req.Context(), Principal{User: "alice", Role: RoleOperator, Source: "192.0.2.9"}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// xmlDump renders what a client sees of a response: status, the CIM
// headers and the body.
func xmlDump(rec *httptest.ResponseRecorder) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP %d\n", rec.Code)
	for _, k := range []string{"Content-Type", "CIMOperation", "CIMError"} {
		if v := rec.Header().Get(k); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
	b.Write(rec.Body.Bytes())
	return b.Bytes()
}

// TestCIMXMLGolden sends every request under testdata/cimxml to the
// handler over the fake model and compares the whole response with its
// golden file.
func TestCIMXMLGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/cimxml/*.request.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no requests: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".request.xml")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			runner := &xmlFakeRunner{ret: 4096, out: map[string]Value{"Message": "drain recorded",
				"Job": ObjectPath{Namespace: Namespace, Class: "DRV_Node", Keys: []KeyBinding{{"CreationClassName", "DRV_Node"}, {"Name", "dir1"}}}}}
			if name == "cm_denied" {
				runner = &xmlFakeRunner{err: &Error{Code: ErrAccessDenied, Description: "viewer bob may not call DRV_Node.RequestStateChange (operator)"}}
			}
			m := newXMLFakeModel()
			calls := 0
			h := CIMXMLHandler(func() Model { calls++; return m }, runner, nil)
			rec := xmlServe(h, xmlHeaders(body), body)
			if calls != 1 {
				t.Errorf("model() called %d times, want once per request", calls)
			}
			if _, err := parseXML(rec.Body.Bytes()); err != nil {
				t.Errorf("response is not XML: %v", err)
			}
			golden.Compare(t, xmlUpdating(), filepath.Join("testdata/cimxml", name+".golden"), xmlDump(rec))
		})
	}
}

// TestCIMXMLMethodCall checks what the MethodRunner is asked: the
// model's path of the instance (keys typed and in the class's order),
// the declared method name and parameters converted to their declared
// types, and the request's principal in the context.
func TestCIMXMLMethodCall(t *testing.T) {
	body, err := os.ReadFile("testdata/cimxml/cm.request.xml")
	if err != nil {
		t.Fatal(err)
	}
	runner := &xmlFakeRunner{}
	m := newXMLFakeModel()
	rec := xmlServe(CIMXMLHandler(func() Model { return m }, runner, nil), xmlHeaders(body), body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := []xmlFakeCall{{
		Principal: Principal{User: "alice", Role: RoleOperator, Source: "192.0.2.9"},
		Path:      ObjectPath{Namespace: Namespace, Class: "DRV_Node", Keys: []KeyBinding{{"CreationClassName", "DRV_Node"}, {"Name", "dir1"}}},
		Method:    "RequestStateChange",
		In:        map[string]Value{"RequestedState": uint16(3), "Reason": "kernel <upgrade>", "Ports": []uint16{80, 443}},
	}}
	if diff := cmp.Diff(want, runner.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	for _, f := range []string{"cm_badvalue", "cm_unknownparam", "cm_nomethod", "cm_notfound"} {
		body, err := os.ReadFile("testdata/cimxml/" + f + ".request.xml")
		if err != nil {
			t.Fatal(err)
		}
		runner := &xmlFakeRunner{}
		xmlServe(CIMXMLHandler(func() Model { return m }, runner, nil), xmlHeaders(body), body)
		if n := len(runner.Calls()); n != 0 {
			t.Errorf("%s: the runner was called %d times for a call that must be refused", f, n)
		}
	}
}

// TestCIMXMLHTTPErrors checks the refusals DSP0200 makes at the HTTP
// level: the status and CIMError header a client sees, never a panic.
func TestCIMXMLHTTPErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/cimxml/ei.request.xml")
	if err != nil {
		t.Fatal(err)
	}
	with := func(k, v string) http.Header {
		h := xmlHeaders(good)
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	envelope := func(cimv, dtdv, inner string) []byte {
		return fmt.Appendf(nil, `<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="%s" DTDVERSION="%s"><MESSAGE ID="1" PROTOCOLVERSION="1.0">%s</MESSAGE></CIM>`, cimv, dtdv, inner)
	}
	simple := `<SIMPLEREQ><IMETHODCALL NAME="EnumerateInstances"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="drover"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="DRV_Node"/></IPARAMVALUE></IMETHODCALL></SIMPLEREQ>`
	deep := []byte(`<?xml version="1.0"?><CIM CIMVERSION="2.0" DTDVERSION="2.0">` + strings.Repeat("<A>", 200) + strings.Repeat("</A>", 200) + `</CIM>`)
	big := append(bytes.Repeat([]byte(" "), xmlMaxBody), good...)
	tests := []struct {
		name     string
		method   string
		header   http.Header
		body     []byte
		chunked  bool
		status   int
		cimError string
	}{
		{name: "ok", header: xmlHeaders(good), body: good, status: 200},
		{name: "text/xml", header: with("Content-Type", "text/xml"), body: good, status: 200},
		{name: "GET", method: http.MethodGet, header: xmlHeaders(good), status: 405},
		{name: "PUT", method: http.MethodPut, header: xmlHeaders(good), body: good, status: 405},
		{name: "content type json", header: with("Content-Type", "application/json"), body: good, status: 415},
		{name: "charset latin1", header: with("Content-Type", "application/xml; charset=iso-8859-1"), body: good, status: 415},
		{name: "no content type", header: with("Content-Type", ""), body: good, status: 415},
		{name: "no CIMOperation", header: with("CIMOperation", ""), body: good, status: 400, cimError: "unsupported-operation"},
		{name: "CIMOperation response", header: with("CIMOperation", "MethodResponse"), body: good, status: 400, cimError: "unsupported-operation"},
		{name: "protocol version 2", header: with("CIMProtocolVersion", "2.0"), body: good, status: 501, cimError: "unsupported-protocol-version"},
		{name: "no CIMMethod", header: with("CIMMethod", ""), body: good, status: 400, cimError: "header-mismatch"},
		{name: "CIMMethod differs", header: with("CIMMethod", "GetInstance"), body: good, status: 400, cimError: "header-mismatch"},
		{name: "CIMObject differs", header: with("CIMObject", "root%2Fcimv2"), body: good, status: 400, cimError: "header-mismatch"},
		{name: "CIMObject bad escape", header: with("CIMObject", "root%zz"), body: good, status: 400, cimError: "header-mismatch"},
		{name: "not XML", header: xmlHeaders(good), body: []byte("GET / HTTP/1.0"), status: 400, cimError: "request-not-well-formed"},
		{name: "truncated", header: xmlHeaders(good), body: good[:len(good)/2], status: 400, cimError: "request-not-well-formed"},
		{name: "mismatched tags", header: xmlHeaders(good), body: []byte(`<CIM><MESSAGE></CIM></MESSAGE>`), status: 400, cimError: "request-not-well-formed"},
		{name: "undefined entity", header: xmlHeaders(good), body: []byte(`<!DOCTYPE CIM [<!ENTITY x "y">]><CIM>&x;</CIM>`), status: 400, cimError: "request-not-well-formed"},
		{name: "latin1 document", header: xmlHeaders(good), body: []byte(`<?xml version="1.0" encoding="iso-8859-1"?><CIM/>`), status: 400, cimError: "request-not-well-formed"},
		{name: "empty body", header: xmlHeaders(good), body: nil, status: 400, cimError: "request-not-well-formed"},
		{name: "not CIM", header: xmlHeaders(good), body: []byte(`<html/>`), status: 400, cimError: "request-not-valid"},
		{name: "no message", header: xmlHeaders(good), body: envelope("2.0", "2.0", "")[:0], status: 400, cimError: "request-not-well-formed"},
		{name: "CIM version 3", header: xmlHeaders(good), body: envelope("3.0", "2.0", simple), status: 501, cimError: "unsupported-cim-version"},
		{name: "DTD version 3", header: xmlHeaders(good), body: envelope("2.0", "3.0", simple), status: 501, cimError: "unsupported-dtd-version"},
		{name: "multireq", header: xmlHeaders(good), body: envelope("2.0", "2.0", "<MULTIREQ>"+simple+simple+"</MULTIREQ>"), status: 501, cimError: "multiple-requests-unsupported"},
		{name: "simplersp", header: xmlHeaders(good), body: envelope("2.0", "2.0", "<SIMPLERSP/>"), status: 400, cimError: "request-not-valid"},
		{name: "too deep", header: xmlHeaders(good), body: deep, status: 400, cimError: "request-not-valid"},
		{name: "too large", header: xmlHeaders(good), body: big, status: 413},
		{name: "too large chunked", header: xmlHeaders(good), body: big, chunked: true, status: 413},
	}
	m := newXMLFakeModel()
	h := CIMXMLHandler(func() Model { return m }, &xmlFakeRunner{}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length
			}
			req := httptest.NewRequest(method, "/cimom", body)
			if tt.chunked {
				req.ContentLength = -1
			}
			req.Header = tt.header
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || rec.Header().Get("CIMError") != tt.cimError {
				t.Errorf("got %d CIMError %q, want %d %q\n%s", rec.Code, rec.Header().Get("CIMError"), tt.status, tt.cimError, rec.Body)
			}
			if tt.status == 405 && rec.Header().Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if rec.Code == 200 && rec.Header().Get("CIMOperation") != "MethodResponse" {
				t.Errorf("CIMOperation %q, want MethodResponse", rec.Header().Get("CIMOperation"))
			}
		})
	}
}

// TestCIMXMLMPost checks the RFC 2774 form of a request: M-POST with a
// Man header and the CIM headers under its prefix.
func TestCIMXMLMPost(t *testing.T) {
	body, err := os.ReadFile("testdata/cimxml/ein.request.xml")
	if err != nil {
		t.Fatal(err)
	}
	m := newXMLFakeModel()
	h := CIMXMLHandler(func() Model { return m }, nil, nil)
	hdr := http.Header{}
	for k, v := range xmlHeaders(body) {
		if strings.HasPrefix(k, "Cim") {
			k = "73-" + k
		}
		hdr[http.CanonicalHeaderKey(k)] = v
	}
	hdr.Set("Man", `"http://www.dmtf.org/cim/mapping/http/v1.0" ; ns=73`)
	req := httptest.NewRequest("M-POST", "/cimom", bytes.NewReader(body))
	req.Header = hdr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("73-CIMOperation") != "MethodResponse" || !bytes.Contains(rec.Body.Bytes(), []byte("<INSTANCENAME")) {
		t.Errorf("M-POST: %d %v\n%s", rec.Code, rec.Header(), rec.Body)
	}
	hdr.Del("Man")
	req = httptest.NewRequest("M-POST", "/cimom", bytes.NewReader(body))
	req.Header = hdr
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotExtended {
		t.Errorf("M-POST without Man: %d, want 510", rec.Code)
	}
}

// TestCIMXMLValues round-trips scalar values through their CIM-XML text.
func TestCIMXMLValues(t *testing.T) {
	tests := []struct {
		typ  string
		v    Value
		text string
	}{
		{TypeString, "a <b> & c", "a <b> & c"},
		{TypeBoolean, true, "TRUE"},
		{TypeBoolean, false, "FALSE"},
		{TypeUint16, uint16(65535), "65535"},
		{TypeUint32, uint32(4096), "4096"},
		{TypeUint64, uint64(1) << 63, "9223372036854775808"},
		{TypeSint64, int64(-42), "-42"},
		{TypeDatetime, time.Date(2026, 11, 22, 10, 0, 1, 234567000, time.UTC), "20261122100001.234567+000"},
	}
	for _, tt := range tests {
		got, ok := scalarText(tt.v)
		if !ok || got != tt.text {
			t.Errorf("scalarText(%#v) = %q, want %q", tt.v, got, tt.text)
		}
		back, err := parseScalar(tt.typ, tt.text)
		if err != nil || !cmp.Equal(back, tt.v) {
			t.Errorf("parseScalar(%s, %q) = %#v, %v; want %#v", tt.typ, tt.text, back, err, tt.v)
		}
	}
	// A timestamp in another zone is the same instant in UTC.
	got, err := parseDatetime("20261122113001.000000+090")
	if want := time.Date(2026, 11, 22, 10, 0, 1, 0, time.UTC); err != nil || !got.Equal(want) {
		t.Errorf("parseDatetime with +090 = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "2026112210000.000000+000", "20261322100001.000000+000", "20261122100001.000000*000", "2026112210000x.000000+000"} {
		if _, err := parseDatetime(bad); err == nil {
			t.Errorf("parseDatetime(%q) accepted", bad)
		}
	}
	if got := formatInterval(26*time.Hour + 3*time.Minute + 4500*time.Millisecond); got != "00000001020304.500000:000" {
		t.Errorf("formatInterval = %q", got)
	}
	var b bytes.Buffer
	w := xmlWriter{Writer: bufio.NewWriter(&b)}
	w.text("ok\x00\x1f\xff<\r\n")
	w.Flush()
	if n, err := parseXML(append(append([]byte("<V>"), b.Bytes()...), "</V>"...)); err != nil || n.text != "ok\uFFFD\uFFFD\uFFFD<\r\n" {
		t.Errorf("escaped control characters are not XML: %q: %v", b.Bytes(), err)
	}
}

package cim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/droverha/drover/internal/golden"
	"github.com/droverha/drover/internal/snmptest"
	"github.com/droverha/drover/model"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// restFixture serves Build(v) with methods backed by a fake invoker.
func restFixture(v model.View, methods MethodRunner) http.Handler {
	s := Build(v)
	if methods == nil {
		methods = NewMethods(func() Model { return s }, &fakeInvoker{}, &recordingAuditor{})
	}
	return RESTHandler(func() Model { return s }, methods, quietLog())
}

func do(h http.Handler, ctx context.Context, method, target string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if ctx != nil {
		req = req.WithContext(ctx)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var (
	specOnce sync.Once
	spec     *openapi3.T
	specErr  error
)

func loadSpec(t testing.TB) *openapi3.T {
	t.Helper()
	specOnce.Do(func() {
		spec, specErr = openapi3.NewLoader().LoadFromData(openAPIDoc)
		if specErr == nil {
			specErr = spec.Validate(context.Background())
		}
	})
	if specErr != nil {
		t.Fatalf("openapi.json: %v", specErr)
	}
	return spec
}

// template is the OpenAPI path of a request to the handler.
func template(target string) (string, map[string]string) {
	u, _ := url.Parse(target)
	rest := strings.TrimPrefix(u.EscapedPath(), RESTPrefix)
	segs := strings.Split(rest, "/")
	for i := range segs {
		segs[i], _ = url.PathUnescape(segs[i])
	}
	switch {
	case len(segs) == 1 && (segs[0] == "classes" || segs[0] == "openapi.json"):
		return RESTPrefix + segs[0], nil
	case len(segs) == 2 && segs[0] == "classes":
		return "/cim/v1/classes/{class}", map[string]string{"class": segs[1]}
	case len(segs) == 1:
		return "/cim/v1/{class}", map[string]string{"class": segs[0]}
	case len(segs) == 2:
		return "/cim/v1/{class}/{id}", map[string]string{"class": segs[0], "id": segs[1]}
	case segs[2] == "associators" || segs[2] == "references":
		return "/cim/v1/{class}/{id}/" + segs[2], map[string]string{"class": segs[0], "id": segs[1]}
	}
	return "/cim/v1/{class}/{id}/{method}", map[string]string{"class": segs[0], "id": segs[1], "method": segs[2]}
}

// validate checks a reply against cim/openapi.json.
func validate(t testing.TB, method, target string, rec *httptest.ResponseRecorder) {
	t.Helper()
	doc := loadSpec(t)
	p, params := template(target)
	item := doc.Paths.Find(p)
	if item == nil {
		t.Fatalf("openapi.json has no path %s", p)
	}
	op := item.GetOperation(method)
	if op == nil {
		t.Fatalf("openapi.json has no %s %s", method, p)
	}
	req := httptest.NewRequest(method, target, nil)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params,
			Route: &routers.Route{Spec: doc, Path: p, PathItem: item, Method: method, Operation: op}},
		Status: rec.Code, Header: rec.Header(), Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s: the reply does not follow openapi.json: %v", method, target, err)
	}
}

// restGolden compares a reply with testdata/rest/name and validates it.
func restGolden(t *testing.T, h http.Handler, target, name string) {
	t.Helper()
	rec := do(h, nil, "GET", target, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", target, rec.Code, rec.Body)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("GET %s: not JSON", target)
	}
	golden.Compare(t, restUpdating(), filepath.Join("testdata", "rest", name), rec.Body.Bytes())
	validate(t, "GET", target, rec)
}

// Every class with instances, as JSON, equal to the golden files and
// valid against the OpenAPI document.
func TestRESTGoldenEveryClass(t *testing.T) {
	s := Build(snmptest.ThreeNodeView())
	h := restFixture(snmptest.ThreeNodeView(), nil)
	n := 0
	for _, c := range Classes() {
		if len(s.byClass[c.Name]) == 0 {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) { restGolden(t, h, RESTPrefix+c.Name, c.Name+".json") })
	}
	if n < 15 {
		t.Errorf("only %d classes have instances", n)
	}
}

func TestRESTGoldenPaths(t *testing.T) {
	h := restFixture(snmptest.ThreeNodeView(), nil)
	for _, c := range []struct{ target, name string }{
		{"/cim/v1/DRV_Node/dir2", "node-dir2.json"},
		{"/cim/v1/CIM_ComputerSystem?NodeState=alive", "computersystem-alive.json"},
		{"/cim/v1/DRV_RealServer?VirtualService=web-http&Healthy=true", "realservers-web-http-healthy.json"},
		{"/cim/v1/DRV_Node/dir1/associators", "node-dir1-associators.json"},
		{"/cim/v1/DRV_VIPRedundancySet/Drover:farm:vipgroup:web/associators?assocClass=CIM_MemberOfCollection&resultRole=Member", "vipgroup-web-members.json"},
		{"/cim/v1/DRV_VIP/web%2F192.0.2.10/associators?resultClass=CIM_Service", "vip-services.json"},
		{"/cim/v1/DRV_RealServer/web-http%2F198.51.100.21:80/references", "realserver-references.json"},
		{"/cim/v1/DRV_VirtualService/web-http/references?resultClass=CIM_ElementStatisticalData&role=ManagedElement", "service-stats-references.json"},
		{"/cim/v1/classes/DRV_Node", "class-DRV_Node.json"},
		{"/cim/v1/classes", "classes.json"},
	} {
		t.Run(c.name, func(t *testing.T) { restGolden(t, h, c.target, c.name) })
	}
	// The id and href of every instance lead back to it.
	rec := do(h, nil, "GET", "/cim/v1/CIM_ManagedElement", nil)
	var list struct {
		Instances []struct {
			Class string `json:"class"`
			ID    string `json:"id"`
			Href  string `json:"href"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	for _, i := range list.Instances {
		r := do(h, nil, "GET", i.Href, nil)
		var got struct {
			ID string `json:"id"`
		}
		json.Unmarshal(r.Body.Bytes(), &got)
		if r.Code != 200 || got.ID != i.ID {
			t.Errorf("GET %s = %d %q, want the instance %q", i.Href, r.Code, got.ID, i.ID)
		}
	}
	if len(list.Instances) < 20 {
		t.Errorf("CIM_ManagedElement has %d instances", len(list.Instances))
	}
}

// Bad requests are answered with the right CIM error and HTTP status,
// in the documented shape.
func TestRESTErrors(t *testing.T) {
	h := restFixture(snmptest.ThreeNodeView(), nil)
	op := WithPrincipal(context.Background(), Principal{User: "op", Role: RoleOperator})
	big := append([]byte(`{"RequestedState":2,"TimeoutPeriod":"`), bytes.Repeat([]byte("0"), MaxBodyBytes)...)
	for _, c := range []struct {
		name, method, target string
		body                 []byte
		status, code         int
	}{
		{"unknown class", "GET", "/cim/v1/DRV_Nothing", nil, 404, ErrInvalidClass},
		{"unknown class instance", "GET", "/cim/v1/DRV_Nothing/x", nil, 404, ErrInvalidClass},
		{"unknown class decl", "GET", "/cim/v1/classes/DRV_Nothing", nil, 404, ErrInvalidClass},
		{"unknown instance", "GET", "/cim/v1/DRV_Node/nope", nil, 404, ErrNotFound},
		{"unknown namespace", "GET", "/cim/v1/DRV_Node?namespace=root/cimv2", nil, 404, ErrInvalidNamespace},
		{"unknown namespace classes", "GET", "/cim/v1/classes?namespace=interop", nil, 404, ErrInvalidNamespace},
		{"unknown property filter", "GET", "/cim/v1/DRV_Node?Colour=blue", nil, 400, ErrInvalidParameter},
		{"unknown assoc parameter", "GET", "/cim/v1/DRV_Node/dir1/associators?x=1", nil, 400, ErrInvalidParameter},
		{"unknown assocClass", "GET", "/cim/v1/DRV_Node/dir1/associators?assocClass=CIM_Nothing", nil, 400, ErrInvalidParameter},
		{"too deep", "GET", "/cim/v1/DRV_Node/dir1/associators/x", nil, 404, ErrNotFound},
		{"outside prefix", "GET", "/cim/v2/DRV_Node", nil, 404, ErrNotFound},
		{"empty", "GET", "/cim/v1/", nil, 404, ErrNotFound},
		{"POST to instances", "POST", "/cim/v1/DRV_Node", nil, 405, ErrNotSupported},
		{"GET a method", "GET", "/cim/v1/DRV_Node/dir1/RequestStateChange", nil, 405, ErrNotSupported},
		{"unknown method", "POST", "/cim/v1/DRV_Node/dir1/Reboot", []byte(`{}`), 404, ErrMethodNotFound},
		{"malformed JSON", "POST", "/cim/v1/DRV_Node/dir1/RequestStateChange", []byte(`{"RequestedState":`), 400, ErrInvalidParameter},
		{"not an object", "POST", "/cim/v1/DRV_Node/dir1/RequestStateChange", []byte(`[6]`), 400, ErrInvalidParameter},
		{"two values", "POST", "/cim/v1/DRV_Node/dir1/RequestStateChange", []byte(`{} {}`), 400, ErrInvalidParameter},
		{"null body", "POST", "/cim/v1/DRV_Node/dir1/RequestStateChange", []byte(`null`), 400, ErrInvalidParameter},
		{"unknown parameter", "POST", "/cim/v1/DRV_Node/dir1/RequestStateChange", []byte(`{"Force":true}`), 400, ErrInvalidParameter},
		{"state not a number", "POST", "/cim/v1/DRV_Node/dir1/RequestStateChange", []byte(`{"RequestedState":"six"}`), 400, ErrInvalidParameter},
		{"state out of range", "POST", "/cim/v1/DRV_Node/dir1/RequestStateChange", []byte(`{"RequestedState":70000}`), 400, ErrInvalidParameter},
		{"bad reference", "POST", "/cim/v1/DRV_VIPRedundancySet/Drover:farm:vipgroup:web/Failover", []byte(`{"FailoverTo":"dir2"}`), 400, ErrInvalidParameter},
		{"reference to nothing", "POST", "/cim/v1/DRV_VIPRedundancySet/Drover:farm:vipgroup:web/Failover", []byte(`{"FailoverTo":{"class":"DRV_Node","id":"dir9"}}`), 400, ErrInvalidParameter},
		{"oversized body", "POST", "/cim/v1/DRV_Node/dir1/RequestStateChange", big, 413, ErrServerLimitsExceeded},
		{"method on unknown instance", "POST", "/cim/v1/DRV_Node/nope/RequestStateChange", []byte(`{"RequestedState":6}`), 404, ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := do(h, op, c.method, c.target, c.body)
			var e struct {
				Code        int    `json:"code"`
				Name        string `json:"name"`
				Description string `json:"description"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("reply is not a CIM error as JSON: %v: %s", err, rec.Body)
			}
			if rec.Code != c.status || e.Code != c.code || e.Name != cimErrNames[c.code] || e.Description == "" {
				t.Errorf("%s %s = %d %+v, want %d code %d", c.method, c.target, rec.Code, e, c.status, c.code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if strings.HasPrefix(c.target, RESTPrefix) && c.method == "GET" && c.status != 405 {
				validate(t, c.method, c.target, rec)
			}
		})
	}
}

func TestRESTServesOpenAPI(t *testing.T) {
	h := restFixture(snmptest.ThreeNodeView(), nil)
	rec := do(h, nil, "GET", "/cim/v1/openapi.json", nil)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), openAPIDoc) {
		t.Fatalf("GET openapi.json = %d, %d bytes", rec.Code, rec.Body.Len())
	}
	loadSpec(t)
}

// Random paths, queries and bodies never panic, and only a model failure
// (none here) may give a 5xx other than 501.
func FuzzRESTRequest(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"GET", "/cim/v1/DRV_Node", ""},
		{"GET", "/cim/v1/DRV_Node/dir1/associators?assocClass=CIM_ParticipatingCS", ""},
		{"GET", "/cim/v1/DRV_RealServer?Healthy=true&VirtualService=web-http", ""},
		{"GET", "/cim/v1/DRV_VIP/web%2F192.0.2.10/references?role=Dependent", ""},
		{"POST", "/cim/v1/DRV_Node/dir2/RequestStateChange", `{"RequestedState":2}`},
		{"POST", "/cim/v1/DRV_VIPRedundancySet/Drover:farm:vipgroup:web/Failover", `{"FailoverTo":{"class":"DRV_Node","id":"dir2"}}`},
		{"POST", "/cim/v1/DRV_RealServer/web-http%2F198.51.100.21:80/RequestStateChange", `{"RequestedState":3,"TimeoutPeriod":"00000000000000.000000:000"}`},
		{"GET", "/cim/v1/classes/cim_service?namespace=root%2Fdrover", ""},
		{"PUT", "/cim/v1/%zz/..", "\x00"},
	} {
		f.Add(s.method, s.path, s.body)
	}
	v := snmptest.ThreeNodeView()
	s := Build(v)
	audit := &recordingAuditor{}
	h := RESTHandler(func() Model { return s }, NewMethods(func() Model { return s }, &fakeInvoker{}, audit), quietLog())
	ctx := WithPrincipal(context.Background(), Principal{User: "fuzz", Role: RoleAdmin})
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || len(method) == 0 || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			return
		}
		req := &http.Request{Method: method, URL: u, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(ctx))
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s %q = %d: %s", method, target, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: reply is not JSON: %q", method, target, rec.Body)
		}
	})
}

// EnumerateInstances of DRV_RealServer over REST with 10,000 real servers
// (plus the fixture's six).
func BenchmarkRESTEnumerateRealServers10k(b *testing.B) {
	s := Build(snmptest.LargeView(10000))
	h := RESTHandler(func() Model { return s }, nil, quietLog())
	req := httptest.NewRequest("GET", "/cim/v1/DRV_RealServer", nil)
	per := len(s.byClass["DRV_RealServer"])
	var n int
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d: %s", rec.Code, rec.Body)
		}
		n++
	}
	b.ReportMetric(float64(n*per)/b.Elapsed().Seconds(), "instances/s")
}

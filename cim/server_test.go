package cim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/droverha/drover/internal/snmptest"
	"github.com/droverha/drover/model"
)

// testPKI is a CA, a server certificate for 127.0.0.1 and client
// certificates, written as PEM files in a test's directory.
type testPKI struct {
	dir            string
	caCert         *x509.Certificate
	caKey          *ecdsa.PrivateKey
	pool           *x509.CertPool
	certFile       string
	keyFile        string
	caFile         string
	clientCertsFor map[string]tls.Certificate
}

func newTestPKI(t *testing.T, clients ...string) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), clientCertsFor: map[string]tls.Certificate{}}
	var err error
	p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drover test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.caCert, _ = x509.ParseCertificate(der)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.caCert)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	srv := p.issue(t, 2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.certFile = p.write(t, "cert.pem", "CERTIFICATE", srv.Certificate[0])
	kb, _ := x509.MarshalECPrivateKey(srv.PrivateKey.(*ecdsa.PrivateKey))
	p.keyFile = p.write(t, "key.pem", "EC PRIVATE KEY", kb)
	for i, cn := range clients {
		p.clientCertsFor[cn] = p.issue(t, int64(10+i), cn, x509.ExtKeyUsageClientAuth)
	}
	return p
}

func (p *testPKI) issue(t *testing.T, serial int64, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.ParseIP(cn)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// stubModel is a Model that is never read: the test handlers do not.
type stubModel struct{ Model }

// testServerConfig is a loopback server on a random port with the test
// users and an audit log in the test's directory.
func testServerConfig(t *testing.T) ServerConfig {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte(testUsersFile(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	return ServerConfig{
		Listen: "127.0.0.1:0", UsersFile: users, AuditFile: filepath.Join(dir, "audit.log"),
		View:     snmptest.ThreeNodeView,
		Snapshot: func(model.View) Model { return stubModel{} },
	}
}

// start runs s until the test ends, and checks that it stops cleanly.
func start(t *testing.T, s *Server) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// testRunner is a MethodRunner as the real one behaves towards roles and
// the audit log: operators and admins may invoke, viewers are denied,
// every attempt is audited, and an audit failure refuses the call.
type testRunner struct{ audit Auditor }

func (r testRunner) Invoke(ctx context.Context, path ObjectPath, method string, in map[string]Value) (uint32, map[string]Value, error) {
	p, _ := PrincipalFrom(ctx)
	e := AuditEntry{User: p.User, Source: p.Source, Action: path.Class + "." + method, Target: path.Class}
	if p.Role < RoleOperator {
		e.Result = "denied"
		if err := r.audit.Record(ctx, e); err != nil {
			return 0, nil, err
		}
		return 0, nil, &Error{Code: ErrAccessDenied, Description: "needs the operator role"}
	}
	e.Result = "4096"
	if err := r.audit.Record(ctx, e); err != nil {
		return 0, nil, &Error{Code: ErrFailed, Description: err.Error()}
	}
	return 4096, nil, nil
}

// testHandlers stand in for RESTHandler and CIMXMLHandler: GET reads,
// POST /cim/v1/<class>/<method> and POST /cimom with CIMMethod invoke.
func testHandlers(d HandlerDeps) (http.Handler, http.Handler) {
	run := testRunner{d.Audit}
	invoke := func(w http.ResponseWriter, r *http.Request, class, method string) {
		_, _, err := run.Invoke(r.Context(), ObjectPath{Namespace: Namespace, Class: class}, method, nil)
		var ce *Error
		switch {
		case errors.As(err, &ce) && ce.Code == ErrAccessDenied:
			http.Error(w, ce.Description, http.StatusForbidden)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			fmt.Fprintln(w, "4096")
		}
	}
	rest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_ = d.Model()
			fmt.Fprintln(w, "[]")
			return
		}
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/cim/v1/"), "/")
		invoke(w, r, parts[0], parts[len(parts)-1])
	})
	cimxml := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := r.Header.Get("CIMMethod"); m != "" && r.Header.Get("CIMOperation") == "MethodCall" && m != "EnumerateInstances" {
			invoke(w, r, r.Header.Get("CIMObject"), m)
			return
		}
		fmt.Fprintln(w, "<CIM/>")
	})
	return rest, cimxml
}

// TestServerAuditFailureRefuses: when the audit log cannot be written,
// a state change is refused.
func TestServerAuditFailureRefuses(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	c := testServerConfig(t)
	c.AuditFile = "/dev/full"
	c.Handlers = testHandlers
	s, err := NewServer(c)
	if err != nil {
		t.Skipf("cannot open /dev/full: %v", err)
	}
	start(t, s)
	req, _ := http.NewRequest("POST", "http://"+s.Addr().String()+"/cim/v1/DRV_Node/RequestStateChange", nil)
	req.SetBasicAuth("admin", "admin-pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
}

func get(t *testing.T, client *http.Client, url string, auth func(*http.Request)) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != nil {
		auth(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServerHealthzMetrics: /healthz needs no credentials; /metrics needs
// a viewer unless MetricsPublic.
func TestServerHealthzMetrics(t *testing.T) {
	for _, public := range []bool{false, true} {
		t.Run(fmt.Sprint("public=", public), func(t *testing.T) {
			c := testServerConfig(t)
			c.MetricsPublic = public
			s, err := NewServer(c)
			if err != nil {
				t.Fatal(err)
			}
			start(t, s)
			base := "http://" + s.Addr().String()
			if code, body := get(t, http.DefaultClient, base+"/healthz", nil); code != 200 || body != "ok\n" {
				t.Errorf("/healthz: %d %q", code, body)
			}
			code, body := get(t, http.DefaultClient, base+"/metrics", nil)
			if wantCode := map[bool]int{false: 401, true: 200}[public]; code != wantCode {
				t.Errorf("/metrics without credentials: %d, want %d", code, wantCode)
			}
			if !public {
				code, body = get(t, http.DefaultClient, base+"/metrics", func(r *http.Request) {
					r.Header.Set("Authorization", "Bearer operator-token")
				})
			}
			for _, line := range []string{"drover_epoch 17", `drover_vip_group_owner{group="web",node="dir1"} 1`,
				`drover_cim_auth_failures_total{scheme="basic"} 0`, "go_goroutines ", "process_"} {
				if code != 200 || !strings.Contains(body, line) {
					t.Errorf("/metrics: %d, no %q", code, line)
				}
			}
			if code, _ := get(t, http.DefaultClient, base+"/cim/v1/classes", func(r *http.Request) { r.SetBasicAuth("admin", "admin-pw") }); code != 404 {
				t.Errorf("/cim/v1 without a handler: %d, want 404", code)
			}
		})
	}
}

// TestServerTLS: HTTPS with TLS 1.2 at least; a client certificate from
// the client CA logs in as its CN with the users file's role; Basic works
// beside it; a certificate whose CN is not a user does not log in.
func TestServerTLS(t *testing.T) {
	pki := newTestPKI(t, "probe", "stranger")
	c := testServerConfig(t)
	c.CertFile, c.KeyFile, c.ClientCAFile = pki.certFile, pki.keyFile, pki.caFile
	c.Handlers = func(HandlerDeps) (http.Handler, http.Handler) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := PrincipalFrom(r.Context())
			fmt.Fprintf(w, "%s %s", p.User, RoleName(p.Role))
		}), nil
	}
	s, err := NewServer(c)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	url := "https://" + s.Addr().String() + "/cim/v1/classes"
	client := func(cn string, maxVersion uint16) *http.Client {
		tc := &tls.Config{RootCAs: pki.pool, MaxVersion: maxVersion}
		if cn != "" {
			tc.Certificates = []tls.Certificate{pki.clientCertsFor[cn]}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	}
	if code, body := get(t, client("probe", 0), url, nil); code != 200 || body != "probe viewer" {
		t.Errorf("client certificate: %d %q", code, body)
	}
	if code, _ := get(t, client("stranger", 0), url, nil); code != 401 {
		t.Errorf("certificate of no user: %d, want 401", code)
	}
	if code, body := get(t, client("", 0), url, func(r *http.Request) { r.SetBasicAuth("admin", "admin-pw") }); code != 200 || body != "admin admin" {
		t.Errorf("basic over TLS: %d %q", code, body)
	}
	if _, err := client("", tls.VersionTLS11).Get(url); err == nil {
		t.Error("TLS 1.1 accepted")
	}
	if _, err := http.Get("http://" + s.Addr().String() + "/healthz"); err == nil {
		// The server answers plain HTTP on a TLS port with 400; what
		// matters is that it is not served.
		t.Log("plain HTTP got an answer (400 from net/http)")
	}
}

func TestServerConfigErrors(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range []struct {
		name string
		set  func(c *ServerConfig)
		want string
	}{
		{"plain HTTP on a wildcard", func(c *ServerConfig) { c.Listen = ":0" }, "not loopback"},
		{"plain HTTP on 0.0.0.0", func(c *ServerConfig) { c.Listen = "0.0.0.0:0" }, "not loopback"},
		{"cert without key", func(c *ServerConfig) { c.CertFile = pki.certFile }, "needs its key"},
		{"client CA without TLS", func(c *ServerConfig) { c.ClientCAFile = pki.caFile }, "need TLS"},
		{"bad key", func(c *ServerConfig) { c.CertFile, c.KeyFile = pki.certFile, pki.caFile }, "cim: certificate"},
		{"client CA not PEM", func(c *ServerConfig) {
			c.CertFile, c.KeyFile, c.ClientCAFile = pki.certFile, pki.keyFile, c.UsersFile
		}, "holds no PEM certificate"},
		{"users file missing", func(c *ServerConfig) { c.UsersFile += ".missing" }, "no such file"},
		{"users file bad", func(c *ServerConfig) { os.WriteFile(c.UsersFile, []byte("x:boss:cert\n"), 0o600) }, `users:1: user "x": unknown role`},
		{"audit dir missing", func(c *ServerConfig) { c.AuditFile = "/nonexistent/dir/audit.log" }, "opening audit log"},
		{"no view", func(c *ServerConfig) { c.View = nil }, "no view"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testServerConfig(t)
			tc.set(&c)
			s, err := NewServer(c)
			if err == nil {
				s.Close()
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestServerPlainHTTPAllowed(t *testing.T) {
	c := testServerConfig(t)
	c.Listen, c.AllowPlainHTTP = "0.0.0.0:0", true
	s, err := NewServer(c)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestServerAddressInUse: NewServer reports a port in use.
func TestServerAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := testServerConfig(t)
	c.Listen = ln.Addr().String()
	if _, err := NewServer(c); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("NewServer on a port in use: %v", err)
	}
}

// TestServerReload: Reload reads the users file again (and keeps the
// old users when the new file is bad) and reopens the audit log.
func TestServerReload(t *testing.T) {
	c := testServerConfig(t)
	s, err := NewServer(c)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	url := "http://" + s.Addr().String() + "/metrics"
	asNew := func(r *http.Request) { r.SetBasicAuth("newbie", "newbie-pw") }
	if code, _ := get(t, http.DefaultClient, url, asNew); code != 401 {
		t.Fatalf("before: %d", code)
	}
	if err := os.WriteFile(c.UsersFile, []byte("newbie:viewer:"+testHash(t, "newbie-pw")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Rename(c.AuditFile, c.AuditFile+".1")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, http.DefaultClient, url, asNew); code != 200 {
		t.Errorf("after reload: %d", code)
	}
	if _, err := os.Stat(c.AuditFile); err != nil {
		t.Errorf("audit log not reopened: %v", err)
	}
	os.WriteFile(c.UsersFile, []byte("broken\n"), 0o600)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "users:1:") {
		t.Errorf("Reload of a bad file: %v", err)
	}
	if code, _ := get(t, http.DefaultClient, url, asNew); code != 200 {
		t.Errorf("after a bad reload the old users went: %d", code)
	}
}

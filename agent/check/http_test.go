package check

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/droverha/drover/model"
)

// httpHandler is the real server of the HTTP cases.
func httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "all ok\n")
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/down", http.StatusFound)
	})
	mux.HandleFunc("/vhost", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "www.example.com" {
			http.Error(w, "unknown host "+r.Host, http.StatusNotFound)
			return
		}
		fmt.Fprint(w, "vhost ok")
	})
	mux.HandleFunc("/method", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			http.Error(w, "want HEAD", http.StatusMethodNotAllowed)
		}
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for _, s := range []string{"status: ", "o", "k\n"} {
			fmt.Fprint(w, s)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		// The marker lies beyond the bytes a probe reads.
		w.Write([]byte(strings.Repeat("x", 2*maxBody)))
		w.Write([]byte("marker"))
	})
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "q=%s", r.URL.Query().Get("q"))
	})
	mux.HandleFunc("/early-hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		fmt.Fprint(w, "after hints")
	})
	return mux
}

func serverAddr(t testing.TB, s *httptest.Server) netip.AddrPort {
	t.Helper()
	return s.Listener.Addr().(*net.TCPAddr).AddrPort()
}

func TestProbeHTTP(t *testing.T) {
	srv := httptest.NewServer(httpHandler())
	t.Cleanup(srv.Close)
	addr := serverAddr(t, srv)
	h := func(c model.Check) model.Check { c.Kind = "http"; return c }
	runProbeCases(t, []probeCase{
		{name: "good", target: addr, check: h(model.Check{}),
			healthy: true, reason: "http: status 200"},
		{name: "503", target: addr, check: h(model.Check{Path: "/down"}),
			reason: "http: status 503 not in 200-399"},
		{name: "503 accepted", target: addr, check: h(model.Check{Path: "/down", Status: []int{503}}),
			healthy: true, reason: "http: status 503"},
		{name: "200 not accepted", target: addr, check: h(model.Check{Status: []int{204, 418}}),
			reason: "http: status 200 not in [204 418]"},
		{name: "redirect not followed", target: addr, check: h(model.Check{Path: "/moved"}),
			healthy: true, reason: "http: status 302"},
		{name: "body matches", target: addr, check: h(model.Check{BodyRegex: `all ok`}),
			healthy: true, reason: "http: status 200"},
		{name: "body does not match", target: addr, check: h(model.Check{BodyRegex: `^ok$`}),
			reason: "http: status 200, body does not match /^ok$/"},
		{name: "chunked body matches", target: addr, check: h(model.Check{Path: "/chunked", BodyRegex: `status: ok`}),
			healthy: true, reason: "http: status 200"},
		{name: "body beyond the limit", target: addr, check: h(model.Check{Path: "/big", BodyRegex: `marker`}),
			reason: "http: status 200, body does not match /marker/"},
		{name: "query string", target: addr, check: h(model.Check{Path: "/query?q=yes", BodyRegex: `q=yes`}),
			healthy: true, reason: "http: status 200"},
		{name: "host header", target: addr, check: h(model.Check{Path: "/vhost", Host: "www.example.com"}),
			healthy: true, reason: "http: status 200"},
		{name: "host header missing", target: addr, check: h(model.Check{Path: "/vhost"}),
			reason: "http: status 404 not in 200-399"},
		{name: "HEAD", target: addr, check: h(model.Check{Path: "/method", Method: "HEAD"}),
			healthy: true, reason: "http: status 200"},
		{name: "HEAD with body regex", target: addr, check: h(model.Check{Path: "/method", Method: "HEAD", BodyRegex: "never read"}),
			reason: "http: a HEAD answer has no body to match /never read/"},
		{name: "GET where HEAD wanted", target: addr, check: h(model.Check{Path: "/method"}),
			reason: "http: status 405 not in 200-399"},
		{name: "interim 103 skipped", target: addr, check: h(model.Check{Path: "/early-hints", BodyRegex: "after hints"}),
			healthy: true, reason: "http: status 200"},
		{name: "port override", target: netip.AddrPortFrom(addr.Addr(), 1), check: h(model.Check{Port: addr.Port()}),
			healthy: true, reason: "http: status 200"},
		{name: "refused", target: refused(t), check: h(model.Check{}),
			reason: "connect: connection refused"},
		{name: "silent", target: listen(t, silent), check: h(model.Check{}), timeout: shortTimeout,
			reason: "http: reading response: timed out"},
		{name: "closed", target: listen(t, func(c net.Conn) { bufio.NewReader(c).ReadString('\n') }), check: h(model.Check{}),
			reason: "http: reading response: connection closed"},
		{name: "garbage", target: listen(t, says("garbage that is not http at all, not even close\r\n\r\n", nil)), check: h(model.Check{}),
			reason: `http: malformed status line "garbage that is not http at all, not eve"...`},
		{name: "ssh", target: listen(t, says("SSH-2.0-OpenSSH_9.6\r\n", nil)), check: h(model.Check{}),
			reason: `http: malformed status line "SSH-2.0-OpenSSH_9.6"`},
		{name: "bad header", target: listen(t, says("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", nil)), check: h(model.Check{}),
			reason: `http: malformed header line "no colon here"`},
		{name: "cut in headers", target: listen(t, answers("HTTP/1.1 200 OK\r\nServer: x")), check: h(model.Check{}),
			reason: `http: headers cut short: "Server: x"`},
		{name: "status line only, closed", target: listen(t, answers("HTTP/1.0 200")), check: h(model.Check{}),
			reason: `http: reading response: connection closed`},
		{name: "bad chunk", target: listen(t, says("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", nil)), check: h(model.Check{BodyRegex: "x"}),
			reason: `http: malformed chunked body: invalid byte in chunk length`},
		{name: "bad regex", target: addr, check: h(model.Check{BodyRegex: "("}),
			reason: "http: bad body regex: error parsing regexp: missing closing ): `(`"},
		{name: "bad path", target: addr, check: h(model.Check{Path: "/ HTTP/1.0\r\nX: y"}),
			reason: `http: bad path "/ HTTP/1.0\r\nX: y"`},
		{name: "bad host", target: addr, check: h(model.Check{Host: "a\r\nX-Injected: 1"}),
			reason: `http: bad host "a\r\nX-Injected: 1"`},
		{name: "bad method", target: addr, check: h(model.Check{Method: "GET /"}),
			reason: `http: bad method "GET /"`},
	})
}

// TestProbeHTTPRequest pins the request on the wire.
func TestProbeHTTPRequest(t *testing.T) {
	got := make(chan string, 1)
	addr := listen(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		var req strings.Builder
		for {
			l, err := br.ReadString('\n')
			req.WriteString(l)
			if err != nil || l == "\r\n" {
				break
			}
		}
		got <- req.String()
		c.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
	})
	r := Probe(t.Context(), addr, model.Check{Kind: "http", Timeout: testTimeout, Path: "/health?x=1"})
	if !r.Healthy {
		t.Fatalf("Probe() = %+v", r)
	}
	want := "GET /health?x=1 HTTP/1.1\r\nHost: " + addr.String() + "\r\nUser-Agent: drover-check\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if g := recv(t, got); g != want {
		t.Errorf("request = %q, want %q", g, want)
	}
}

// testPKI is a CA and a certificate it issued for www.example.com only.
type testPKI struct {
	caFile string
	cert   tls.Certificate
}

func newTestPKI(t testing.TB) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "drover test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "www.example.com"},
		DNSNames:     []string{"www.example.com"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testPKI{caFile: caFile, cert: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}}
}

// newSNIServer serves HTTPS with pki's certificate to clients that ask for
// www.example.com by SNI, and fails the handshake of any other.
func newSNIServer(t testing.TB, pki testPKI) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(httpHandler())
	srv.TLS = &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hello.ServerName != "www.example.com" {
				return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
			}
			return &pki.cert, nil
		},
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are meant
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestProbeHTTPS(t *testing.T) {
	pki := newTestPKI(t)
	addr := serverAddr(t, newSNIServer(t, pki))
	// httptest's own certificate is for 127.0.0.1 and example.com, by its
	// own CA.
	plain := httptest.NewUnstartedServer(httpHandler())
	plain.Config.ErrorLog = log.New(io.Discard, "", 0)
	plain.StartTLS()
	t.Cleanup(plain.Close)
	plainAddr := serverAddr(t, plain)

	hs := func(c model.Check) model.Check { c.Kind = "https"; return c }
	runProbeCases(t, []probeCase{
		{name: "sni and CA file", target: addr, check: hs(model.Check{SNI: "www.example.com", CAFile: pki.caFile}),
			healthy: true, reason: "https: status 200"},
		{name: "sni from host header", target: addr, check: hs(model.Check{Host: "www.example.com", Path: "/vhost", CAFile: pki.caFile}),
			healthy: true, reason: "https: status 200"},
		{name: "sni from host header with port", target: addr, check: hs(model.Check{Host: "www.example.com:8443", CAFile: pki.caFile}),
			healthy: true, reason: "https: status 200"},
		{name: "body", target: addr, check: hs(model.Check{SNI: "www.example.com", CAFile: pki.caFile, BodyRegex: "all ok"}),
			healthy: true, reason: "https: status 200"},
		{name: "status", target: addr, check: hs(model.Check{SNI: "www.example.com", CAFile: pki.caFile, Path: "/down"}),
			reason: "https: status 503 not in 200-399"},
		{name: "unknown authority", target: addr, check: hs(model.Check{SNI: "www.example.com"}),
			reason: "https: handshake: failed to verify certificate: x509: certificate signed by unknown authority", contains: true},
		{name: "skip verify", target: addr, check: hs(model.Check{SNI: "www.example.com", TLSSkipVerify: true}),
			healthy: true, reason: "https: status 200"},
		{name: "no sni", target: addr, check: hs(model.Check{CAFile: pki.caFile}),
			reason: "https: handshake: ", contains: true},
		{name: "wrong name", target: plainAddr, check: hs(model.Check{SNI: "www.example.com", TLSSkipVerify: false, CAFile: pki.caFile}),
			reason: "https: handshake: failed to verify certificate", contains: true},
		{name: "missing CA file", target: addr, check: hs(model.Check{SNI: "www.example.com", CAFile: filepath.Join(t.TempDir(), "nope.pem")}),
			reason: "https: reading CA file: open ", contains: true},
		{name: "not tls", target: listen(t, says("HTTP/1.1 400 Bad Request\r\n\r\n", nil)), check: hs(model.Check{TLSSkipVerify: true}),
			reason: "https: handshake: first record does not look like a TLS handshake"},
		{name: "plain server, address as name", target: plainAddr, check: hs(model.Check{TLSSkipVerify: true}),
			healthy: true, reason: "https: status 200"},
		{name: "refused", target: refused(t), check: hs(model.Check{}),
			reason: "connect: connection refused"},
		{name: "silent", target: listen(t, silent), check: hs(model.Check{TLSSkipVerify: true}), timeout: shortTimeout,
			reason: "https: handshake: timed out"},
	})
}

// TestProbeHTTPSCAFileLater: a CA file that is missing at the first probe
// is read at a later one, without a new loop.
func TestProbeHTTPSCAFileLater(t *testing.T) {
	pki := newTestPKI(t)
	addr := serverAddr(t, newSNIServer(t, pki))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	p := newProber(addr, WithDefaults(model.Check{Kind: "https", SNI: "www.example.com", CAFile: caFile, Timeout: testTimeout}))
	if r := p.probe(t.Context()); r.Healthy || !strings.Contains(r.Reason, "reading CA file") {
		t.Fatalf("first probe = %+v, want unhealthy for the missing CA file", r)
	}
	pem, err := os.ReadFile(pki.caFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := p.probe(t.Context()); !r.Healthy {
		t.Fatalf("second probe = %+v, want healthy", r)
	}
}

// TestProbeIPv6: addresses are bracketed where HTTP and dialing want them.
func TestProbeIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	hosts := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hosts <- r.Host:
		default:
		}
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	addr := serverAddr(t, srv)
	runProbeCases(t, []probeCase{
		{name: "http", target: addr, check: model.Check{Kind: "http"}, healthy: true, reason: "http: status 200"},
		{name: "tcp", target: addr, check: model.Check{Kind: "tcp"}, healthy: true, reason: "tcp: connected"},
	})
	t.Cleanup(func() { // after the parallel cases
		if got, want := recv(t, hosts), "[::1]:"+strconv.Itoa(int(addr.Port())); got != want {
			t.Errorf("Host = %q, want %q", got, want)
		}
	})
}

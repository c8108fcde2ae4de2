package check

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/droverha/drover/model"
)

// Bounds on what an HTTP probe reads. A real server's answer beyond them
// says nothing more about its health and must not cost the director memory.
const (
	maxBody       = 64 << 10 // bytes of body matched against BodyRegex
	maxHeaderLine = 4 << 10  // bytes of one status or header line
	maxHeaders    = 100      // header lines of one response
	maxInterim    = 5        // 1xx responses skipped before the final one
	keptBody      = 4 << 10  // body buffer a prober keeps between probes
)

// httpProber speaks HTTP/1.1 over one fresh connection per probe (RFC 9112),
// written by hand rather than through net/http: a probe must see the real
// server accept a connection, so connections are never reused, and a
// hand-written request and reader keep a probe to a few allocations, which
// is what lets one core run thousands of checks a second. Redirects are not
// followed: a 3xx is the real server's answer.
type httpProber struct {
	addr   string
	https  bool
	req    []byte // the whole request, written at once
	head   bool
	status []int          // accepted; empty: 200..399
	body   *regexp.Regexp // nil: the body is not read
	tls    *tls.Config    // nil until loaded (https)
	sni    string
	skip   bool
	caFile string

	br  *bufio.Reader // reused across probes
	buf []byte        // body buffer, kept while small
}

func newHTTPProber(addr netip.AddrPort, c model.Check) prober {
	kind := c.Kind
	if !validToken(c.Method) {
		return failProber(fmt.Sprintf("%s: bad method %q", kind, c.Method))
	}
	if !validRequestTarget(c.Path) {
		return failProber(fmt.Sprintf("%s: bad path %q", kind, c.Path))
	}
	https := kind == KindHTTPS
	host := c.Host
	if host == "" {
		host = netip.AddrPortFrom(addr.Addr().WithZone(""), addr.Port()).String()
		if (!https && addr.Port() == 80) || (https && addr.Port() == 443) {
			host = hostLiteral(addr.Addr())
		}
	}
	if !validFieldValue(host) {
		return failProber(fmt.Sprintf("%s: bad host %q", kind, host))
	}
	p := &httpProber{
		addr:   addr.String(),
		https:  https,
		head:   c.Method == "HEAD",
		status: c.Status,
		skip:   c.TLSSkipVerify,
		caFile: c.CAFile,
	}
	if c.BodyRegex != "" {
		re, err := regexp.Compile(c.BodyRegex)
		if err != nil {
			return failProber(fmt.Sprintf("%s: bad body regex: %v", kind, err))
		}
		if p.head {
			return failProber(fmt.Sprintf("%s: a HEAD answer has no body to match /%s/", kind, re))
		}
		p.body = re
	}
	if https {
		// The name the certificate must carry: the SNI if given, else the
		// Host header's name, else the address itself (matched against the
		// certificate's IP SANs; no SNI is sent for an address).
		p.sni = c.SNI
		if p.sni == "" && c.Host != "" {
			p.sni = c.Host
			if h, _, err := net.SplitHostPort(c.Host); err == nil {
				p.sni = h
			}
		}
		if p.sni == "" {
			p.sni = addr.Addr().WithZone("").String()
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: drover-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
		c.Method, c.Path, host)
	p.req = b.Bytes()
	return p
}

// tlsConfig loads the CA file on first use and again after a failure, so a
// CA file that appears later is picked up without restarting the loop.
func (p *httpProber) tlsConfig() (*tls.Config, error) {
	if p.tls != nil {
		return p.tls, nil
	}
	conf := &tls.Config{
		ServerName:         p.sni,
		InsecureSkipVerify: p.skip,
		NextProtos:         []string{"http/1.1"},
		// Resumed sessions make a probe much cheaper for both ends; Go
		// re-checks the cached chain's expiry before resuming.
		ClientSessionCache: tls.NewLRUClientSessionCache(1),
	}
	if p.caFile != "" {
		pem, err := os.ReadFile(p.caFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in CA file %s", p.caFile)
		}
		conf.RootCAs = pool
	}
	p.tls = conf
	return conf, nil
}

func (p *httpProber) probe(ctx context.Context) Result {
	kind := KindHTTP
	var conf *tls.Config
	if p.https {
		kind = KindHTTPS
		var err error
		if conf, err = p.tlsConfig(); err != nil {
			return Result{Reason: kind + ": " + err.Error()}
		}
	}
	conn, r, ok := dial(ctx, "tcp", p.addr)
	if !ok {
		return r
	}
	defer conn.Close()
	var rw io.ReadWriter = conn
	if conf != nil {
		tc := tls.Client(conn, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return Result{Reason: kind + ": handshake: " + tlsReason(err)}
		}
		rw = tc
	}
	if _, err := rw.Write(p.req); err != nil {
		return Result{Reason: kind + ": sending request: " + errReason(err)}
	}
	if p.br == nil {
		p.br = bufio.NewReaderSize(rw, maxHeaderLine)
	} else {
		p.br.Reset(rw)
	}
	limit := 0
	if p.body != nil {
		limit = maxBody
	}
	status, body, err := readHTTPResponse(p.br, p.head, p.buf, limit)
	if cap(body) <= keptBody {
		// A typical health body fits; a large one is not held between
		// probes by every loop.
		p.buf = body[:0]
	}
	p.br.Reset(nil) // drop the connection
	if err != nil {
		var pe protoError
		if errors.As(err, &pe) {
			return Result{Reason: kind + ": " + pe.Error()}
		}
		return Result{Reason: kind + ": reading response: " + errReason(err)}
	}
	if !statusOK(status, p.status) {
		want := "200-399"
		if len(p.status) > 0 {
			want = fmt.Sprint(p.status)
		}
		return Result{Reason: fmt.Sprintf("%s: status %d not in %s", kind, status, want)}
	}
	if p.body != nil && !p.body.Match(body) {
		return Result{Reason: fmt.Sprintf("%s: status %d, body does not match /%s/", kind, status, p.body)}
	}
	return Result{Healthy: true, Reason: kind + ": status " + strconv.Itoa(status)}
}

func statusOK(status int, accepted []int) bool {
	if len(accepted) == 0 {
		return status >= 200 && status <= 399
	}
	for _, s := range accepted {
		if s == status {
			return true
		}
	}
	return false
}

func tlsReason(err error) string {
	r := errReason(err)
	if r == err.Error() {
		r = strings.TrimPrefix(r, "tls: ")
	}
	return r
}

// protoError is a response that breaks the protocol: the real server
// answered, but not as a healthy one of its kind would.
type protoError string

func (e protoError) Error() string { return string(e) }

func protoErrorf(format string, args ...any) error {
	return protoError(fmt.Sprintf(format, args...))
}

// readHTTPResponse reads one HTTP/1.x response (RFC 9112) from br, skipping
// interim 1xx responses, and returns its status code and, when limit > 0,
// up to limit bytes of its body, appended to buf[:0].
// Only what a verdict needs is parsed; a broken status line, header or
// chunk is a protoError.
func readHTTPResponse(br *bufio.Reader, head bool, buf []byte, limit int) (int, []byte, error) {
	for interim := 0; ; interim++ {
		status, err := readStatusLine(br)
		if err != nil {
			return 0, nil, err
		}
		h, err := readHeaders(br)
		if err != nil {
			return status, nil, err
		}
		if status >= 100 && status < 200 && status != 101 {
			if interim == maxInterim {
				return status, nil, protoErrorf("more than %d interim responses", maxInterim)
			}
			continue
		}
		if limit <= 0 || head || status < 200 || status == 204 || status == 304 {
			return status, nil, nil
		}
		var body io.Reader
		switch {
		case h.chunked:
			body = httputil.NewChunkedReader(br)
		case h.length >= 0:
			body = io.LimitReader(br, h.length)
		default: // delimited by the close of the connection
			body = br
		}
		buf, err := readBody(body, buf[:0], limit)
		switch {
		case err == nil:
			return status, buf, nil
		case h.chunked && !isNetError(err):
			return status, nil, protoErrorf("malformed chunked body: %v", err)
		default:
			return status, nil, fmt.Errorf("reading body: %w", err)
		}
	}
}

// readBody appends body to buf, up to limit bytes. A body cut short by
// the server's close is no error: the regex decides whether what arrived
// is good enough.
func readBody(body io.Reader, buf []byte, limit int) ([]byte, error) {
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(limit-len(buf), max(512, cap(buf))))
		}
		n, err := body.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}

// readLine returns one line without its line ending. A line longer than
// br's buffer is a protoError; one cut off by the connection's close is
// returned with errUnterminated, for the caller to judge or quote.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case err == nil:
		return trimEOL(line), nil
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, protoErrorf("line longer than %d bytes: %s", br.Size(), quote(line))
	case len(line) > 0 && errors.Is(err, io.EOF):
		return line, errUnterminated
	default:
		return nil, err
	}
}

// errUnterminated is a line the server sent and closed without ending. It
// is a sentinel, not a type carrying the line, so that the common path
// allocates nothing.
var errUnterminated = errors.New("unterminated line")

func readStatusLine(br *bufio.Reader) (int, error) {
	line, err := readLine(br)
	if err == errUnterminated {
		err = nil // judged as a status line: garbage says so
	}
	if err != nil {
		return 0, err
	}
	// HTTP/1.1 200 OK — the reason phrase may be empty or missing.
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) ||
		line[7] < '0' || line[7] > '9' || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, protoErrorf("malformed status line %s", quote(line))
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, protoErrorf("malformed status line %s", quote(line))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return 0, protoErrorf("malformed status line %s", quote(line))
	}
	return code, nil
}

type httpHeader struct {
	length  int64 // -1: none
	chunked bool
}

func readHeaders(br *bufio.Reader) (httpHeader, error) {
	h := httpHeader{length: -1}
	for i := 0; ; i++ {
		if i > maxHeaders {
			return h, protoErrorf("more than %d header lines", maxHeaders)
		}
		line, err := readLine(br)
		if err == errUnterminated {
			return h, protoErrorf("headers cut short: %s", quote(line))
		}
		if err != nil {
			return h, err
		}
		if len(line) == 0 {
			return h, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // obsolete line folding, of no header we read
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 {
			return h, protoErrorf("malformed header line %s", quote(line))
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (h.length >= 0 && n != h.length) {
				return h, protoErrorf("bad Content-Length %s", quote(value))
			}
			h.length = n
		case asciiEqualFold(name, "transfer-encoding"):
			// Chunked is last when present (RFC 9112 §6.1).
			h.chunked = len(value) >= 7 && asciiEqualFold(value[len(value)-7:], "chunked")
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// validToken reports whether s is an HTTP token (a method).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validRequestTarget accepts an origin-form path ("/x?y") or "*"; nothing
// that could end the request line early.
func validRequestTarget(s string) bool {
	if s != "*" && !strings.HasPrefix(s, "/") {
		return false
	}
	for i := range len(s) {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// validFieldValue rejects what could end a header line early.
func validFieldValue(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func hostLiteral(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.WithZone("").String() + "]"
	}
	return a.String()
}

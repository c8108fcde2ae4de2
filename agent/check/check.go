package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/droverha/drover/model"
)

// Check kinds, the values of model.Check.Kind. An empty Kind is a TCP
// connect: a real server with no check configured is still dropped when it
// stops accepting connections.
const (
	KindTCP   = "tcp"
	KindHTTP  = "http"
	KindHTTPS = "https"
	KindSMTP  = "smtp"
	KindFTP   = "ftp"
	KindIMAP  = "imap"
	KindPOP3  = "pop3"
	KindLDAP  = "ldap"
	KindNNTP  = "nntp"
	KindDNS   = "dns"
	KindExec  = "exec"
	KindNone  = "none"
)

// Defaults applied to a zero field of model.Check. They are chosen so that a
// real server that dies leaves the IPVS table within 2 s: the worst case is a
// probe that succeeds just before the death, then Fall failed probes one
// Interval apart, the last taking up to Timeout to fail:
// Fall×Interval + Timeout = 2×500 ms + 500 ms = 1.5 s, which leaves half a
// second for the manager to reweigh the service and the directors to apply
// it. Rise 2 keeps one lucky probe from readmitting a flapping server.
const (
	DefaultInterval = 500 * time.Millisecond
	DefaultTimeout  = 500 * time.Millisecond // and never more than the interval
	DefaultRise     = 2
	DefaultFall     = 2
)

// Result is the outcome of one probe.
type Result struct {
	Healthy bool
	// Reason says briefly, for a person, what the probe saw: "http: status
	// 200", "connect: connection refused", `smtp: unexpected greeting
	// "garbage"`.
	Reason  string
	Latency time.Duration // from the start of the probe to its verdict
}

// Probe probes target once, as c says, and returns the verdict. The probe
// ends by ctx's deadline; without one it ends after c's timeout (or the
// default). c.Port, when set, replaces target's port.
//
// Probe prepares the check (compiles the body regex, reads the CA file)
// on every call; a Checker prepares it once per probe loop.
func Probe(ctx context.Context, target netip.AddrPort, c model.Check) Result {
	return newProber(target, WithDefaults(c)).probe(ctx)
}

// WithDefaults returns c with its zero timing, rise and fall fields, and the
// zero fields its kind needs, set to their defaults.
func WithDefaults(c model.Check) model.Check {
	c.Kind = strings.ToLower(c.Kind)
	if c.Kind == "" {
		c.Kind = KindTCP
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = min(DefaultTimeout, c.Interval)
	}
	if c.Rise <= 0 {
		c.Rise = DefaultRise
	}
	if c.Fall <= 0 {
		c.Fall = DefaultFall
	}
	switch c.Kind {
	case KindHTTP, KindHTTPS:
		if c.Method == "" {
			c.Method = "GET"
		}
		if c.Path == "" {
			c.Path = "/"
		}
	case KindDNS:
		if c.QueryType == "" {
			c.QueryType = "A"
		}
	}
	return c
}

// prober is a check prepared for one target. A probe loop owns one and calls
// it from one goroutine at a time, so probers may keep buffers between
// probes.
type prober interface {
	probe(ctx context.Context) Result
}

// newProber prepares c (with defaults applied) for target. Settings that
// cannot work (a bad regex, an unknown kind) give a prober that always
// answers unhealthy with the reason: the checker must never crash on
// configuration the validator let through.
func newProber(target netip.AddrPort, c model.Check) prober {
	addr := target
	if c.Port != 0 {
		addr = netip.AddrPortFrom(target.Addr(), c.Port)
	}
	var p prober
	switch c.Kind {
	case KindTCP:
		p = tcpProber{addr: addr.String()}
	case KindHTTP, KindHTTPS:
		p = newHTTPProber(addr, c)
	case KindSMTP, KindFTP, KindIMAP, KindPOP3, KindNNTP:
		p = newTextProber(addr, c)
	case KindLDAP:
		p = &ldapProber{addr: addr.String()}
	case KindDNS:
		p = newDNSProber(addr, c)
	case KindExec:
		p = newExecProber(addr, c)
	case KindNone:
		p = noneProber{}
	default:
		p = failProber(fmt.Sprintf("unknown check kind %q", c.Kind))
	}
	return timed{p: p, timeout: c.Timeout}
}

// timed gives every probe a deadline and measures its latency.
type timed struct {
	p       prober
	timeout time.Duration
}

func (t timed) probe(ctx context.Context) Result {
	start := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
	r := t.p.probe(ctx)
	if r.Latency == 0 { // unless the prober measured to its verdict itself
		r.Latency = time.Since(start)
	}
	return r
}

// failProber reports a configuration that cannot be probed.
type failProber string

func (f failProber) probe(context.Context) Result { return Result{Reason: string(f)} }

type noneProber struct{}

func (noneProber) probe(context.Context) Result {
	return Result{Healthy: true, Reason: "none: not probed"}
}

type tcpProber struct{ addr string }

func (t tcpProber) probe(ctx context.Context) Result {
	conn, r, ok := dial(ctx, "tcp", t.addr)
	if !ok {
		return r
	}
	conn.Close()
	return Result{Healthy: true, Reason: "tcp: connected"}
}

// dial connects to addr (an AddrPort's String, formatted once per loop)
// and sets ctx's deadline on the connection, so every read and write of
// the probe ends by it. A failure comes back as a Result.
func dial(ctx context.Context, network, addr string) (net.Conn, Result, bool) {
	// No TCP keepalive: a probe's connection lives for milliseconds, and
	// the setsockopt calls that enable it are a good part of a dial's cost.
	d := net.Dialer{KeepAlive: -1}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, Result{Reason: "connect: " + errReason(err)}, false
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A context cancelled early (the loop stopped) must end a blocked read
	// too, not only a deadline.
	if ctx.Done() != nil {
		raw := conn
		stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
		conn = &stopConn{Conn: raw, stop: stop}
	}
	return conn, Result{}, true
}

// stopConn unhooks its cancellation hook when closed.
type stopConn struct {
	net.Conn
	stop func() bool
}

func (s *stopConn) Close() error {
	s.stop()
	return s.Conn.Close()
}

// errReason turns a network error into the short text a person wants:
// "connection refused", "timed out", "connection closed", without the
// addresses and operation names net wraps around it (the status already
// names the target).
func errReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// quote quotes text a server sent, cut to a length that fits in a status
// line: a garbage-spewing server must not fill logs and SNMP tables.
func quote(b []byte) string {
	const max = 40
	b = trimEOL(b)
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/droverha/drover/cim"
)

// CIM is the agent's management face over HTTP(S): CIM as JSON under
// /cim/v1 and as CIM-XML at /cimom, Prometheus metrics and a health
// check (docs/security.md). Listen is empty when it is off, as it is
// unless configured: a management port is opened only on purpose.
type CIM struct {
	Listen string // host:port (TCP)
	TLS    CIMTLS
	// AllowPlainHTTP serves plain HTTP on an address beyond loopback.
	AllowPlainHTTP bool
	UsersFile      string
	AuditFile      string // <data_dir>/audit.log unless set; "" when Listen is
	MetricsPublic  bool   // /metrics without authentication
}

// CIMTLS is the server's certificate and key, and the CAs of client
// certificates.
type CIMTLS struct {
	CertFile, KeyFile, ClientCAFile string
}

// defaultAuditFile is the audit log's name in data_dir.
const defaultAuditFile = "audit.log"

// validateCIM checks the cim section: a listener needs a users file that
// parses, and TLS unless it is on loopback or plain HTTP is allowed.
func (l *loader) validateCIM(c *Config) {
	const (
		listen    = "cim.listen"
		cert      = "cim.tls.cert_file"
		key       = "cim.tls.key_file"
		clientCA  = "cim.tls.client_ca_file"
		plain     = "cim.allow_plain_http"
		users     = "cim.users_file"
		audit     = "cim.audit_file"
		public    = "cim.metrics_public"
		tlsNeeded = "set cim.tls.cert_file and cim.tls.key_file"
	)
	s := &c.CIM
	on := s.Listen != "" || l.bad[listen]
	if !on {
		for _, u := range []struct {
			key string
			set bool
		}{
			{cert, s.TLS.CertFile != ""},
			{key, s.TLS.KeyFile != ""},
			{clientCA, s.TLS.ClientCAFile != ""},
			{plain, l.explicit(plain)},
			{users, s.UsersFile != ""},
			{audit, l.explicit(audit)},
			{public, l.explicit(public)},
		} {
			if u.set && !l.bad[u.key] {
				l.add(u.key, "only applies with cim.listen")
			}
		}
		return
	}
	l.checkAddr(listen, s.Listen, true)
	l.checkFile(cert, &s.TLS.CertFile)
	l.checkFile(key, &s.TLS.KeyFile)
	l.checkFile(clientCA, &s.TLS.ClientCAFile)
	if s.TLS.CertFile != "" && s.TLS.KeyFile == "" && !l.bad[key] {
		l.add(cert, "needs cim.tls.key_file as well")
	}
	if s.TLS.KeyFile != "" && s.TLS.CertFile == "" && !l.bad[cert] {
		l.add(key, "needs cim.tls.cert_file as well")
	}
	hasTLS := s.TLS.CertFile != "" || l.bad[cert] || l.bad[key]
	if s.TLS.ClientCAFile != "" && !hasTLS && !l.bad[clientCA] {
		l.add(clientCA, "client certificates need TLS: "+tlsNeeded)
	}
	switch {
	case l.bad[listen] || l.bad[plain] || hasTLS && !s.AllowPlainHTTP:
	case hasTLS && s.AllowPlainHTTP:
		l.add(plain, "only applies without TLS")
	case !s.AllowPlainHTTP && !loopbackListen(s.Listen):
		l.add(listen, fmt.Sprintf("%q is not a loopback address, so the CIM face needs TLS: %s, or set cim.allow_plain_http: true to send passwords in clear", s.Listen, tlsNeeded))
	}

	switch {
	case l.bad[users]:
	case s.UsersFile == "":
		l.add(users, "missing: the CIM face needs a users file (drover cim passwd makes its lines)")
	default:
		l.checkFile(users, &s.UsersFile)
		if !l.bad[users] {
			if _, err := cim.LoadUsers(s.UsersFile); err != nil {
				l.add(users, oneLine(strings.ReplaceAll(err.Error(), "\n", "; ")))
			}
		}
	}
	if !l.bad[audit] && s.AuditFile != "" {
		if l.origins[audit].kind == fromFile && !filepath.IsAbs(s.AuditFile) {
			if abs, err := filepath.Abs(filepath.Join(filepath.Dir(l.file), s.AuditFile)); err == nil {
				s.AuditFile = abs
			}
		}
		if !filepath.IsAbs(s.AuditFile) {
			l.add(audit, fmt.Sprintf("%q is not an absolute path", s.AuditFile))
		}
	}
}

// loopbackListen is whether a valid listen address is reachable from this
// host alone.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

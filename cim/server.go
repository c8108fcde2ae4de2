package cim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/droverha/drover/model"
)

// ServerConfig configures the HTTPS server of the CIM face: JSON under
// /cim/v1/, CIM-XML at /cimom, Prometheus metrics at /metrics and a
// health check at /healthz.
type ServerConfig struct {
	Listen string // host:port
	// CertFile and KeyFile are the server's certificate and key (PEM);
	// both or neither. Without them the server speaks plain HTTP, which
	// is refused on an address other than loopback unless AllowPlainHTTP.
	CertFile, KeyFile string
	// ClientCAFile, optional, holds the CAs whose client certificates
	// authenticate users: the certificate's CN is the user, whose role
	// comes from the users file. It needs CertFile.
	ClientCAFile   string
	AllowPlainHTTP bool
	// UsersFile is the users file (docs/security.md); Reload reads it again.
	UsersFile string
	// AuditFile is where state-changing requests are recorded, one JSON
	// line each; Reload reopens it, for logrotate.
	AuditFile string
	// MetricsPublic serves /metrics without authentication, for a
	// Prometheus on a trusted network; by default it needs a viewer.
	MetricsPublic bool

	View    func() model.View
	Invoker Invoker
	Logger  *slog.Logger
	// Snapshot builds the Model of a view (the agent passes
	// func(v model.View) cim.Model { return cim.Build(v) }).
	Snapshot func(model.View) Model
	// Handlers makes the /cim/v1/ and /cimom handlers from what the
	// server has made: the Model of the current view, the invoker, the
	// audit log and the logger. Either handler may be nil, and that path
	// then answers 404.
	Handlers func(HandlerDeps) (rest, cimxml http.Handler)
}

// HandlerDeps is what ServerConfig.Handlers builds the handlers from.
type HandlerDeps struct {
	Model   func() Model
	Invoker Invoker
	Audit   Auditor
	Logger  *slog.Logger
}

// Server is the CIM face's HTTP(S) server.
type Server struct {
	log      *slog.Logger
	ln       net.Listener
	http     *http.Server
	audit    *FileAuditor
	reg      *prometheus.Registry
	tls      bool
	c        ServerConfig
	users    atomic.Pointer[Users]
	cert     atomic.Pointer[tls.Certificate]
	clientCA *x509.CertPool
}

// Timeouts of the HTTP server: management clients send small requests.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	maxBodyBytes      = 4 << 20
	shutdownTimeout   = 2 * time.Second
)

// NewServer checks c, reads the users file and the certificates, opens
// the audit log and binds the listener, so that every problem, a port in
// use included, is reported before the agent starts.
func NewServer(c ServerConfig) (*Server, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Listen == "":
		return nil, errors.New("cim: no listen address")
	case c.View == nil:
		return nil, errors.New("cim: no view")
	case c.Snapshot == nil:
		return nil, errors.New("cim: no snapshot builder")
	case c.UsersFile == "":
		return nil, errors.New("cim: no users file")
	case c.AuditFile == "":
		return nil, errors.New("cim: no audit file")
	case (c.CertFile == "") != (c.KeyFile == ""):
		return nil, errors.New("cim: a certificate needs its key and a key its certificate")
	case c.ClientCAFile != "" && c.CertFile == "":
		return nil, errors.New("cim: client certificates need TLS (a certificate and key)")
	}
	s := &Server{c: c, log: c.Logger.With("component", "cim"), tls: c.CertFile != ""}
	if !s.tls && !c.AllowPlainHTTP {
		loop, err := isLoopback(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("cim: listen %q: %w", c.Listen, err)
		}
		if !loop {
			return nil, fmt.Errorf("cim: plain HTTP on %s, which is not loopback: give a certificate and key, or allow plain HTTP", c.Listen)
		}
	}
	users, err := LoadUsers(c.UsersFile)
	if err != nil {
		return nil, fmt.Errorf("cim: %w", err)
	}
	s.users.Store(users)
	if s.tls {
		if err := s.loadCert(); err != nil {
			return nil, err
		}
		if c.ClientCAFile != "" {
			pem, err := os.ReadFile(c.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("cim: client CA file: %w", err)
			}
			s.clientCA = x509.NewCertPool()
			if !s.clientCA.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("cim: client CA file %s holds no PEM certificate", c.ClientCAFile)
			}
		}
	}
	s.audit, err = OpenAuditFile(c.AuditFile)
	if err != nil {
		return nil, fmt.Errorf("cim: %w", err)
	}

	s.reg = prometheus.NewRegistry()
	authFailures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "drover_cim_auth_failures_total",
		Help: "Requests to the CIM face with bad credentials, by scheme (basic, bearer, other).",
	}, []string{"scheme"})
	for _, scheme := range []string{"basic", "bearer", "other"} {
		authFailures.WithLabelValues(scheme)
	}
	s.reg.MustRegister(NewViewCollector(c.View), authFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	auth := newAuthenticator(s.users.Load, time.Now, func(scheme string) { authFailures.WithLabelValues(scheme).Inc() })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "ok\n")
	})
	var metrics http.Handler = promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)})
	if !c.MetricsPublic {
		metrics = auth.middleware(metrics)
	}
	mux.Handle("GET /metrics", metrics)
	var rest, cimxml http.Handler
	if c.Handlers != nil {
		rest, cimxml = c.Handlers(HandlerDeps{Model: s.model, Invoker: c.Invoker, Audit: s.audit, Logger: c.Logger})
	}
	if rest != nil {
		mux.Handle("/cim/v1/", auth.middleware(rest))
	}
	if cimxml != nil {
		mux.Handle("/cimom", auth.middleware(cimxml))
	}

	s.http = &http.Server{
		Handler:           limitBody(mux),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		s.audit.Close()
		return nil, fmt.Errorf("cim: %w", err)
	}
	if s.tls {
		tc := &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil },
		}
		if s.clientCA != nil {
			tc.ClientCAs = s.clientCA
			tc.ClientAuth = tls.VerifyClientCertIfGiven
		}
		s.http.TLSConfig = tc
	} else if c.AllowPlainHTTP {
		if loop, _ := isLoopback(c.Listen); !loop {
			s.log.Warn("CIM face serves plain HTTP beyond loopback: passwords and tokens cross the network in clear", "listen", c.Listen)
		}
	}
	s.ln = ln
	return s, nil
}

func (s *Server) loadCert() error {
	cert, err := tls.LoadX509KeyPair(s.c.CertFile, s.c.KeyFile)
	if err != nil {
		return fmt.Errorf("cim: certificate %s, key %s: %w", s.c.CertFile, s.c.KeyFile, err)
	}
	s.cert.Store(&cert)
	return nil
}

// model is the Model of the view at this instant.
func (s *Server) model() Model { return s.c.Snapshot(s.c.View()) }

// limitBody bounds request bodies; no CIM request is larger.
func limitBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

// isLoopback says whether a listen address can only be reached from this
// host: a loopback IP or "localhost". An empty host or a wildcard is not.
func isLoopback(listen string) (bool, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false, err
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback(), nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// TLS says whether the server speaks HTTPS.
func (s *Server) TLS() bool { return s.tls }

// Registry is the server's Prometheus registry, for more collectors.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Auditor is the audit log.
func (s *Server) Auditor() *FileAuditor { return s.audit }

// Reload reads the users file and the certificate again and reopens the
// audit log, as the agent does on SIGHUP. What fails to load is kept as
// it was; the errors are returned together.
func (s *Server) Reload() error {
	var errs []error
	if users, err := LoadUsers(s.c.UsersFile); err != nil {
		errs = append(errs, fmt.Errorf("cim: keeping the users loaded before: %w", err))
	} else {
		s.users.Store(users)
	}
	if s.tls {
		if err := s.loadCert(); err != nil {
			errs = append(errs, fmt.Errorf("%w; keeping the certificate loaded before", err))
		}
	}
	if err := s.audit.Reopen(); err != nil {
		errs = append(errs, fmt.Errorf("cim: %w; still writing the file opened before", err))
	}
	return errors.Join(errs...)
}

// Close releases the listener and the audit log of a server that is not
// going to Run.
func (s *Server) Close() error {
	return errors.Join(s.ln.Close(), s.audit.Close())
}

// Run serves until ctx is done, then shuts down gracefully within 2
// seconds and closes the audit log. It returns nil after a graceful stop.
func (s *Server) Run(ctx context.Context) error {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	s.log.Info("CIM face listening", "addr", s.ln.Addr().String(), "scheme", scheme)
	errc := make(chan error, 1)
	go func() {
		if s.tls {
			errc <- s.http.ServeTLS(s.ln, "", "") // the certificate comes from TLSConfig.GetCertificate
		} else {
			errc <- s.http.Serve(s.ln)
		}
	}()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		err = s.http.Shutdown(sctx)
		cancel()
		if err != nil {
			err = s.http.Close()
		}
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if cerr := s.audit.Close(); err == nil {
		err = cerr
	}
	return err
}

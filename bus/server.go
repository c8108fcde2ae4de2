package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the embedded nats-server.
type ServerConfig struct {
	// Name is the server name; Drover uses the node name. JetStream
	// clustering needs it unique.
	Name string
	// Cluster is the NATS cluster name; Drover uses the cluster name.
	Cluster string
	// Listen is the client listener, host:port. Port 0 picks a free port.
	Listen string
	// StoreDir holds JetStream's files.
	StoreDir string
	// ClusterListen is the route listener, host:port; empty for a single
	// node. Port 0 picks a free port.
	ClusterListen string
	// Advertise is the route address other servers should use, host:port;
	// empty means ClusterListen.
	Advertise string
	// Routes are the other servers' route URLs (nats-route://host:port).
	// A route to this server itself is harmless; nats-server ignores it.
	Routes []string
	// Logger receives nats-server's own log lines; nil discards them.
	Logger *slog.Logger
}

// Server is a running embedded nats-server with JetStream.
type Server struct {
	ns *server.Server
}

// StartServer starts an embedded nats-server and waits until it accepts
// clients.
func StartServer(cfg ServerConfig) (*Server, error) {
	host, port, err := splitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("bus listen address %q: %w", cfg.Listen, err)
	}
	opts := &server.Options{
		ServerName:            cfg.Name,
		Host:                  host,
		Port:                  port,
		JetStream:             true,
		StoreDir:              cfg.StoreDir,
		NoSigs:                true,
		DisableShortFirstPing: true,
		MaxPayload:            1 << 20,
	}
	if port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if cfg.ClusterListen != "" {
		ch, cp, err := splitHostPort(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("bus cluster listen address %q: %w", cfg.ClusterListen, err)
		}
		if cp == 0 {
			cp = server.RANDOM_PORT
		}
		opts.Cluster = server.ClusterOpts{
			Name:        cfg.Cluster,
			Host:        ch,
			Port:        cp,
			Advertise:   cfg.Advertise,
			NoAdvertise: true, // clients get the URLs they were configured with
			// Half the default, so a dead peer's routes are noticed sooner.
			PingInterval: 10 * time.Second,
		}
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting embedded nats-server: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLoggerV2(&natsLogger{log: cfg.Logger}, false, false, false)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats-server did not become ready within 10s")
	}
	return &Server{ns: ns}, nil
}

// ClientURL is the URL clients on this host use.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// ClusterURL is the route URL of this server, or "" without clustering.
func (s *Server) ClusterURL() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats-route://" + a.String()
}

// NATS returns the underlying server, for in-process connections.
func (s *Server) NATS() *server.Server { return s.ns }

// Shutdown stops the server and waits for it, JetStream's files included.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q out of range", p)
	}
	return h, n, nil
}

// natsLogger forwards nats-server's log lines to slog. Notices are debug
// noise for a Drover operator; warnings and errors are not.
type natsLogger struct{ log *slog.Logger }

func (l *natsLogger) Noticef(f string, v ...any) { l.log.Debug(fmt.Sprintf(f, v...)) }
func (l *natsLogger) Warnf(f string, v ...any)   { l.log.Warn(fmt.Sprintf(f, v...)) }
func (l *natsLogger) Fatalf(f string, v ...any)  { l.log.Error(fmt.Sprintf(f, v...)) }
func (l *natsLogger) Errorf(f string, v ...any)  { l.log.Error(fmt.Sprintf(f, v...)) }
func (l *natsLogger) Debugf(f string, v ...any)  { l.log.Debug(fmt.Sprintf(f, v...)) }
func (l *natsLogger) Tracef(f string, v ...any)  {}

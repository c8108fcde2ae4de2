package bus

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ClientConfig says how to reach the bus.
type ClientConfig struct {
	// Name is the connection name shown by NATS monitoring.
	Name string
	// URLs of NATS servers; ignored when InProcess is set.
	URLs []string
	// InProcess connects to an embedded server without a socket.
	InProcess *Server
	// Credentials is a NATS .creds file for external deployments.
	Credentials string
	// TLS, when set, is used for tls:// servers.
	TLS *tls.Config
	// Timeout bounds the initial connect; zero means 2s.
	Timeout time.Duration
	// Reconnect makes the connection retry forever after it drops (agents);
	// without it a lost connection stays lost (CLI).
	Reconnect bool
}

// Connect opens a NATS connection.
func Connect(cfg ClientConfig) (*nats.Conn, error) {
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(timeout),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
	}
	if cfg.Reconnect {
		opts = append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
			nats.ReconnectBufSize(8<<20))
	} else {
		opts = append(opts, nats.NoReconnect())
	}
	if cfg.Credentials != "" {
		opts = append(opts, nats.UserCredentials(cfg.Credentials))
	}
	if cfg.TLS != nil {
		opts = append(opts, nats.Secure(cfg.TLS))
	}
	url := strings.Join(cfg.URLs, ",")
	if cfg.InProcess != nil {
		opts = append(opts, nats.InProcessServer(cfg.InProcess.ns))
		url = cfg.InProcess.ClientURL()
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to the bus at %s: %w", url, err)
	}
	return nc, nil
}

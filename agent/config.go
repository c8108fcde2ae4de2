package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/droverha/drover/model"
)

// Config is the agent's typed, validated configuration. cmd/drover builds it
// from files, environment and flags; tests build it directly.
type Config struct {
	Node    string
	Cluster string
	DataDir string
	Version string // software version, reported in heartbeats

	// Embedded runs a nats-server in-process; when nil, External is used.
	Embedded *EmbeddedBus
	External *ExternalBus

	// Voters is the number of nodes a quorum is counted against.
	Voters int

	HeartbeatInterval time.Duration
	SuspectAfter      time.Duration
	DeadAfter         time.Duration
	LeaseTTL          time.Duration

	EventsMaxAge   time.Duration
	EventsMaxBytes int64

	// ConfigDigest identifies the configuration for the config.applied event.
	ConfigDigest string

	Logger *slog.Logger
}

// EmbeddedBus configures the in-process nats-server.
type EmbeddedBus struct {
	Listen        string   // client listener host:port
	ClusterListen string   // route listener host:port; empty for one node
	Advertise     string   // route address to advertise; empty for ClusterListen
	Routes        []string // peers' route URLs
}

// ExternalBus says how to reach an external NATS deployment.
type ExternalBus struct {
	URLs        []string
	Credentials string
	TLS         *tls.Config
}

// Replicas is the JetStream replication factor: min(3, voters).
func (c Config) Replicas() int { return max(1, min(3, c.Voters)) }

func (c *Config) check() error {
	var errs []error
	if !model.ValidName(c.Node) {
		errs = append(errs, fmt.Errorf("invalid node name %q", c.Node))
	}
	if !model.ValidName(c.Cluster) {
		errs = append(errs, fmt.Errorf("invalid cluster name %q", c.Cluster))
	}
	if (c.Embedded == nil) == (c.External == nil) {
		errs = append(errs, errors.New("exactly one of an embedded and an external bus must be configured"))
	}
	if c.Embedded != nil && c.DataDir == "" {
		errs = append(errs, errors.New("an embedded bus needs a data dir"))
	}
	if c.HeartbeatInterval <= 0 || c.SuspectAfter <= c.HeartbeatInterval || c.DeadAfter <= c.SuspectAfter {
		errs = append(errs, fmt.Errorf("heartbeat timing: need 0 < interval (%v) < suspect_after (%v) < dead_after (%v)",
			c.HeartbeatInterval, c.SuspectAfter, c.DeadAfter))
	}
	if c.LeaseTTL <= 2*c.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("lease ttl %v must exceed twice the heartbeat interval", c.LeaseTTL))
	}
	if c.Voters < 1 {
		c.Voters = 1
	}
	if c.EventsMaxAge <= 0 {
		c.EventsMaxAge = 7 * 24 * time.Hour
	}
	if c.EventsMaxBytes <= 0 {
		c.EventsMaxBytes = 256 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/droverha/drover/agent/ipvs"
	"github.com/droverha/drover/agent/vip"
	"github.com/droverha/drover/bus"
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

	// VIP configures director high availability; zero for none.
	VIP VIPConfig

	// Services are the load-balanced virtual services (the same on every
	// node). A Director probes their real servers and programs IPVS; any
	// node probes the real servers whose agent it is.
	Services []model.VirtualService
	Director bool
	// IPVS programs the kernel's table; nil means the host's (ipvs.New).
	IPVS ipvs.Client

	// ConfigDigest identifies the configuration for the config.applied event.
	ConfigDigest string

	// OnEvent, if set, is called with every event this agent reports, as
	// it publishes it (the SNMP notifier). It is called with the agent's
	// locks held: it must not block nor call back into the agent.
	OnEvent func(bus.Event)

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

// VIPConfig is the director side of the agent.
type VIPConfig struct {
	Groups []VIPGroup
	// SelfFenceAfter: a holder that has heard neither a bus majority nor
	// any UDP peer for this long releases its VIPs.
	SelfFenceAfter time.Duration
	// RestartGrace: on SIGTERM the agent keeps its VIPs this long for a
	// restart to pick them up (hitless restart); the manager waits as long.
	RestartGrace time.Duration
	// UDPListen and UDPPeers (name → host:port) carry direct heartbeats.
	UDPListen string
	UDPPeers  map[string]string
	// Client moves addresses; nil means the host's (vip.New).
	Client vip.Client
	// Guard starts `drover vip-guard` (GuardCommand) to drop this node's
	// VIPs if the agent dies without a goodbye.
	GuardCommand []string
}

// VIPGroup is one configured group with its announcement schedule.
type VIPGroup struct {
	model.VIPGroup
	GARP vip.GARP
}

// Driver returns the group in the driver's terms.
func (g VIPGroup) Driver() vip.Group {
	d := vip.Group{Name: g.Name, Interface: g.Interface, Addresses: g.Addresses, GARP: g.GARP}
	if g.VirtualMAC != "" {
		d.VirtualMAC, _ = net.ParseMAC(g.VirtualMAC)
	}
	return d
}

// Candidate reports whether node may own any group.
func (v VIPConfig) Candidate(node string) bool {
	for _, g := range v.Groups {
		if g.Priority(node) > 0 {
			return true
		}
	}
	return false
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
	if len(c.VIP.Groups) > 0 {
		if c.VIP.SelfFenceAfter <= 0 {
			c.VIP.SelfFenceAfter = 400 * time.Millisecond
		}
		if c.DeadAfter < c.VIP.SelfFenceAfter+2*c.HeartbeatInterval {
			errs = append(errs, fmt.Errorf("dead_after %v must exceed self_fence_after %v by two heartbeat intervals", c.DeadAfter, c.VIP.SelfFenceAfter))
		}
		if c.VIP.RestartGrace <= 0 {
			c.VIP.RestartGrace = 3 * time.Second
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

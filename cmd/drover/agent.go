package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/droverha/drover/agent"
	"github.com/droverha/drover/agent/ipvs"
	"github.com/droverha/drover/agent/vip"
	"github.com/droverha/drover/cmd/drover/config"
	"github.com/droverha/drover/model"
)

func newAgentCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "agent",
		Short: "Run the drover agent on this host",
		Long: `Run the drover agent. With no configuration at all it is a complete
single-node cluster: an embedded NATS server with JetStream on 127.0.0.1:4222,
state under the data dir, this node as the manager.

The configuration is checked before anything starts: problems are printed one
per line, naming the file, line and key, and the exit status is 2.
SIGINT or SIGTERM stop the agent gracefully (it leaves the cluster, hands the
manager lease on, flushes its events) within 2 seconds.

SNMP: with snmp.agentx.enabled the agent serves DROVER-MIB (drover mib) as an
AgentX subagent of net-snmp's snmpd (deploy/snmpd.conf); with
snmp.standalone.listen it answers SNMPv2c and SNMPv3 itself. Both send the
notifications of the events this node reports. See docs/snmp.md.

CIM: with cim.listen the agent serves the cluster as CIM instances (JSON under
/cim/v1, CIM-XML at /cimom), their methods (drain a node, fail a VIP group
over) and Prometheus /metrics, to users of cim.users_file, auditing every
change. See docs/cim.md and docs/security.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			acfg, err := agentConfig(cfg)
			if err != nil {
				return err
			}
			faces, err := newSNMPFaces(cfg, acfg.Logger)
			if err != nil {
				return exitf(1, "snmp: %v", err) // a port in use, not the configuration
			}
			if faces != nil {
				acfg.OnEvent = faces.notifier.Event
			}
			cimf, err := newCIMFace(cfg, acfg.Logger)
			if err != nil {
				return exitf(1, "cim: %v", err) // a port in use or an unreadable file
			}
			a, err := agent.New(acfg)
			if err != nil && cimf != nil {
				cimf.srv.Close()
			}
			if errors.Is(err, ipvs.ErrNotSupported) {
				return exitf(1, "%v", err) // the host, not the configuration
			}
			if err != nil {
				return exitf(2, "%v", err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			stopFaces := func(time.Duration) {}
			if faces != nil {
				stopFaces = faces.start(a)
			}
			stopCIM := func() {}
			if cimf != nil {
				stopCIM = cimf.start(a, acfg.Logger)
			}
			err = a.Run(ctx)
			stopCIM()
			stopFaces(time.Second)
			if err != nil {
				return exitf(1, "%v", err)
			}
			return nil
		},
	}
}

func newLogger(l config.Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// agentConfig turns the validated configuration into the agent's.
func agentConfig(c *config.Config) (agent.Config, error) {
	digest, _ := json.Marshal(c)
	sum := sha256.Sum256(digest)
	a := agent.Config{
		Node: c.Node, Cluster: c.Cluster, DataDir: c.DataDir, Version: version,
		Voters:            c.Voters(),
		HeartbeatInterval: c.Heartbeat.Interval,
		SuspectAfter:      c.Heartbeat.SuspectAfter,
		DeadAfter:         c.Heartbeat.DeadAfter,
		LeaseTTL:          c.Election.LeaseTTL,
		EventsMaxAge:      c.Events.MaxAge,
		EventsMaxBytes:    c.Events.MaxBytes,
		ConfigDigest:      hex.EncodeToString(sum[:8]),
		Logger:            newLogger(c.Log),
	}
	lbConfig(c, &a)
	if len(c.Bus.External.URLs) > 0 {
		tc, err := tlsConfig(c.Bus.External.TLS)
		if err != nil {
			return agent.Config{}, exitf(2, "%v", err)
		}
		a.External = &agent.ExternalBus{URLs: c.Bus.External.URLs, Credentials: c.Bus.External.Credentials, TLS: tc}
		return a, vipConfig(c, &a)
	}
	if err := vipConfig(c, &a); err != nil {
		return agent.Config{}, err
	}
	e := &agent.EmbeddedBus{Listen: c.Bus.Listen, ClusterListen: c.Bus.Cluster.Listen, Advertise: c.Bus.Cluster.Advertise}
	for _, p := range c.Bus.Cluster.Peers {
		if p.Name != c.Node {
			e.Routes = append(e.Routes, p.Route)
		}
	}
	a.Embedded = e
	return a, nil
}

// vipConfig fills in the director side.
func vipConfig(c *config.Config, a *agent.Config) error {
	if len(c.VIPGroups) == 0 {
		return nil
	}
	v := &a.VIP
	v.SelfFenceAfter = c.Fence.SelfFenceAfter
	v.UDPListen = c.Heartbeat.UDP.Listen
	if len(c.Heartbeat.UDP.Peers) > 0 {
		v.UDPPeers = map[string]string{}
		for _, p := range c.Heartbeat.UDP.Peers {
			v.UDPPeers[p.Name] = p.Addr
		}
	}
	for _, g := range c.VIPGroups {
		mg := model.VIPGroup{Name: g.Name, Interface: g.Interface, Addresses: g.Addresses,
			Preempt: g.Preempt, PreemptDelay: g.PreemptDelay}
		if mac := g.VirtualMAC(); mac != nil {
			mg.VirtualMAC = mac.String()
		}
		for _, cand := range g.Candidates {
			mg.Candidates = append(mg.Candidates, model.Candidate{Node: cand.Node, Priority: cand.Priority})
		}
		v.Groups = append(v.Groups, agent.VIPGroup{VIPGroup: mg, GARP: vip.GARP{
			Count: g.GARP.Count, Interval: g.GARP.Interval, RepeatAfter: g.GARP.RepeatAfter,
			Refresh: g.GARP.Refresh, Mode: vip.Mode(g.GARP.Mode),
		}})
	}
	self, err := os.Executable()
	if err != nil {
		return exitf(1, "finding the drover binary for the VIP guard: %v", err)
	}
	v.GuardCommand = []string{self, "vip-guard"}
	return nil
}

func newVIPGuardCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "vip-guard",
		Short:  "Companion process of the agent: drops this host's VIPs if the agent dies",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := vip.New(vip.Options{})
			if err != nil {
				return exitf(1, "%v", err)
			}
			if err := agent.RunGuard(os.Stdin, c); err != nil {
				return exitf(1, "vip-guard: %v", err)
			}
			return nil
		},
	}
}

// lbConfig fills in the load-balancing side. A node directs (probes real
// servers and programs IPVS) when it may own a VIP group, or when no VIP
// groups are configured at all (a lone director).
func lbConfig(c *config.Config, a *agent.Config) {
	if len(c.Services) == 0 {
		return
	}
	a.Services = c.Services
	a.Director = len(c.VIPGroups) == 0
	for _, g := range c.VIPGroups {
		for _, cand := range g.Candidates {
			if cand.Node == c.Node {
				a.Director = true
			}
		}
	}
	if a.Director {
		if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
			// As keepalived does: load the module when it is not there yet.
			_ = exec.Command("modprobe", "ip_vs").Run()
		}
	}
}

package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/droverha/drover/agent"
	"github.com/droverha/drover/cmd/drover/config"
	"github.com/droverha/drover/mib"
	"github.com/droverha/drover/model"
)

// snmpFaces are the SNMP faces the configuration asks for: the AgentX
// subagent under snmpd, the standalone agent, and the notifier that feeds
// both from the events this agent reports.
type snmpFaces struct {
	agent      atomic.Pointer[agent.Agent]
	notifier   *mib.Notifier
	subagent   *mib.Subagent
	standalone *mib.Standalone
}

// newSNMPFaces builds the faces; nil when SNMP is off. The standalone
// agent binds its port here, so a port in use stops the start.
func newSNMPFaces(c *config.Config, log *slog.Logger) (*snmpFaces, error) {
	s := c.SNMP
	if !s.AgentX.Enabled && s.Standalone.Listen == "" {
		return nil, nil
	}
	f := &snmpFaces{}
	var sinks []mib.Sink
	if s.AgentX.Enabled {
		f.subagent = mib.NewSubagent(mib.SubagentConfig{
			Network: s.AgentX.Network, Address: s.AgentX.Address,
			View: f.view, Logger: log, Description: "Drover agent " + version + " on " + c.Node,
		})
		sinks = append(sinks, f.subagent)
	}
	if s.Standalone.Listen != "" {
		sc := mib.StandaloneConfig{
			Listen: s.Standalone.Listen, Communities: s.Standalone.Communities,
			EngineID:  c.Cluster + "/" + c.Node,
			BootsFile: filepath.Join(c.DataDir, "snmp-engine-boots"),
			View:      f.view, Logger: log,
			SysName: s.SysName, SysContact: s.SysContact, SysLocation: s.SysLocation,
			SysDescr: "Drover agent " + version + ", node " + c.Node + " of cluster " + c.Cluster,
		}
		if sc.SysName == "" {
			sc.SysName = c.Node
		}
		for _, u := range s.Standalone.Users {
			sc.Users = append(sc.Users, mib.USMUser{Name: u.Name, AuthProtocol: u.AuthProtocol, AuthPassphrase: u.AuthPassphrase,
				PrivProtocol: u.PrivProtocol, PrivPassphrase: u.PrivPassphrase})
		}
		for _, r := range s.Receivers {
			sc.Receivers = append(sc.Receivers, mib.Receiver{Address: r.Address, Version: r.Version, Community: r.Community,
				User: r.User, Inform: r.Inform})
		}
		// engineBoots lives in the data dir, which the agent has not made
		// yet on a first start.
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return nil, err
		}
		sa, err := mib.NewStandalone(sc)
		if err != nil {
			return nil, err
		}
		f.standalone = sa
		sinks = append(sinks, sa)
	}
	f.notifier = mib.NewNotifier(f.view, log, sinks...)
	return f, nil
}

// view is the running agent's cluster view; empty before it runs.
func (f *snmpFaces) view() model.View {
	if a := f.agent.Load(); a != nil {
		return a.View()
	}
	return model.View{}
}

// start runs the faces for a. stop hands the notifications still queued
// (the node.left of a graceful stop among them) to the managers for up to
// flush, then stops the faces.
func (f *snmpFaces) start(a *agent.Agent) (stop func(flush time.Duration)) {
	f.agent.Store(a)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { f.notifier.Run(done) })
	if f.subagent != nil {
		wg.Go(func() { _ = f.subagent.Run(ctx) })
	}
	if f.standalone != nil {
		wg.Go(func() { _ = f.standalone.Run(ctx) })
	}
	return func(flush time.Duration) {
		for deadline := time.Now().Add(flush); f.pending() > 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		close(done)
		wg.Wait()
	}
}

// pending counts the notifications not yet sent.
func (f *snmpFaces) pending() int {
	n := f.notifier.Pending()
	if f.subagent != nil {
		n += f.subagent.Pending()
	}
	if f.standalone != nil {
		n += f.standalone.Pending()
	}
	return n
}

package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/droverha/drover/agent"
	"github.com/droverha/drover/cim"
	"github.com/droverha/drover/cmd/drover/config"
	"github.com/droverha/drover/model"
)

// cimFace is the management server of cim.listen: CIM as JSON and as
// CIM-XML, the methods, /metrics; it reads the running agent's view and
// acts through the agent's bus connection.
type cimFace struct {
	agent atomic.Pointer[agent.Agent]
	srv   *cim.Server
}

// newCIMFace builds the server (binding its port); nil when cim.listen is
// not set.
func newCIMFace(c *config.Config, log *slog.Logger) (*cimFace, error) {
	if c.CIM.Listen == "" {
		return nil, nil
	}
	f := &cimFace{}
	// The audit log sits in the data dir by default, which the agent has
	// not made yet on a first start.
	if err := os.MkdirAll(filepath.Dir(c.CIM.AuditFile), 0o700); err != nil {
		return nil, err
	}
	srv, err := cim.NewServer(cim.ServerConfig{
		Listen:   c.CIM.Listen,
		CertFile: c.CIM.TLS.CertFile, KeyFile: c.CIM.TLS.KeyFile, ClientCAFile: c.CIM.TLS.ClientCAFile,
		AllowPlainHTTP: c.CIM.AllowPlainHTTP,
		UsersFile:      c.CIM.UsersFile,
		AuditFile:      c.CIM.AuditFile,
		MetricsPublic:  c.CIM.MetricsPublic,
		View:           f.view,
		Invoker:        f,
		Logger:         log,
		Snapshot:       func(v model.View) cim.Model { return cim.Build(v) },
		Handlers: func(d cim.HandlerDeps) (http.Handler, http.Handler) {
			methods := cim.NewMethods(d.Model, d.Invoker, d.Audit)
			return cim.RESTHandler(d.Model, methods, d.Logger), cim.CIMXMLHandler(d.Model, methods, d.Logger)
		},
	})
	if err != nil {
		return nil, err
	}
	f.srv = srv
	return f, nil
}

func (f *cimFace) view() model.View {
	if a := f.agent.Load(); a != nil {
		return a.View()
	}
	return model.View{}
}

var errAgentNotRunning = errors.New("the agent is not running")

// DrainNode, MoveVIPGroup and SetRealServerAdmin make the face the server's cim.Invoker: they
// go to the agent once it runs.
func (f *cimFace) DrainNode(ctx context.Context, node string, drain bool) error {
	if a := f.agent.Load(); a != nil {
		return a.DrainNode(ctx, node, drain)
	}
	return errAgentNotRunning
}

func (f *cimFace) MoveVIPGroup(ctx context.Context, group, node string) error {
	if a := f.agent.Load(); a != nil {
		return a.MoveVIPGroup(ctx, group, node)
	}
	return errAgentNotRunning
}

func (f *cimFace) SetRealServerAdmin(ctx context.Context, service, address, state string) error {
	if a := f.agent.Load(); a != nil {
		return a.SetRealServerAdmin(ctx, service, address, state)
	}
	return errAgentNotRunning
}

// start serves for a until stop is called. SIGHUP re-reads the users
// file and the certificate and reopens the audit log (logrotate).
func (f *cimFace) start(a *agent.Agent, log *slog.Logger) (stop func()) {
	f.agent.Store(a)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.srv.Run(ctx) }()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := f.srv.Reload(); err != nil {
					log.Warn("cim: reload after SIGHUP", "err", err)
				} else {
					log.Info("cim: users, certificate and audit log reloaded")
				}
			}
		}
	}()
	return func() { signal.Stop(hup); cancel(); <-done }
}

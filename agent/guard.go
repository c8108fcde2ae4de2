package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/droverha/drover/agent/vip"
)

// The VIP guard is a small companion process (`drover vip-guard`) that
// outlives the agent. The agent tells it, over a pipe, which VIP groups are
// up on this host. If the agent dies without a goodbye (SIGKILL, a crash),
// the pipe closes and the guard removes those addresses at once, so a dead
// agent's host stops answering for VIPs that another director is about to
// take. On a graceful stop the agent first tells it to wait the restart
// grace: a restarted agent adopts the addresses (it signals the old guard
// to leave them, SIGUSR1) and nothing is dropped.

// guardMsg is one line on the guard's stdin.
type guardMsg struct {
	Groups  []vip.Group `json:"groups,omitempty"`
	GraceMS int64       `json:"grace_ms,omitempty"`
}

type guard struct {
	mu   sync.Mutex // guards w, last
	w    io.WriteCloser
	last string
	cmd  *exec.Cmd
}

func (a *Agent) guardPIDFile() string { return filepath.Join(a.cfg.DataDir, "vip-guard.pid") }

// startGuard adopts a previous guard's addresses and starts a new guard.
func (a *Agent) startGuard() error {
	if len(a.cfg.VIP.GuardCommand) == 0 {
		return nil
	}
	if err := os.MkdirAll(a.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	adoptGuard(a.guardPIDFile())
	cmd := exec.Command(a.cfg.VIP.GuardCommand[0], a.cfg.VIP.GuardCommand[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // survive the agent's process group
	cmd.Stderr = os.Stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the VIP guard: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	if err := os.WriteFile(a.guardPIDFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return fmt.Errorf("writing guard pid: %w", err)
	}
	a.guard = &guard{w: w, cmd: cmd}
	return nil
}

// adoptGuard tells a previous agent's guard to leave its addresses alone.
func adoptGuard(pidfile string) {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "vip-guard") {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGUSR1)
	for range 50 {
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (g *guard) send(m guardMsg) {
	if g == nil {
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.GraceMS == 0 && string(b) == g.last {
		return
	}
	g.last = string(b)
	_, _ = g.w.Write(append(b, '\n'))
}

// hold tells the guard which groups are up here.
func (g *guard) hold(groups []VIPGroup, held, yielded []string) {
	if g == nil {
		return
	}
	up := map[string]bool{}
	for _, n := range held {
		up[n] = true
	}
	for _, n := range yielded {
		up[n] = true
	}
	m := guardMsg{Groups: []vip.Group{}}
	for _, gc := range groups {
		if up[gc.Name] {
			m.Groups = append(m.Groups, gc.Driver())
		}
	}
	g.send(m)
}

// grace tells the guard to keep the addresses for d after the agent exits.
func (g *guard) grace(d time.Duration) { g.send(guardMsg{GraceMS: d.Milliseconds()}) }

// RunGuard is the guard process: it reads the agent's messages from in and,
// when in closes, releases the last groups it was told of, after the grace
// if one was given, unless SIGUSR1 arrives first (a new agent adopts them).
func RunGuard(in io.Reader, client vip.Client) error {
	adopt := make(chan os.Signal, 1)
	signal.Notify(adopt, syscall.SIGUSR1)
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM)
	lines := make(chan guardMsg)
	done := make(chan error, 1)
	go func() {
		dec := json.NewDecoder(in)
		for {
			var m guardMsg
			if err := dec.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				done <- err
				return
			}
			lines <- m
		}
	}()
	var (
		groups []vip.Group
		grace  time.Duration
	)
	for {
		select {
		case <-adopt:
			return nil // a new agent owns the addresses now
		case m := <-lines:
			if m.GraceMS > 0 {
				grace = time.Duration(m.GraceMS) * time.Millisecond
				continue
			}
			groups = m.Groups
		case <-done:
			if grace > 0 {
				select {
				case <-adopt:
					return nil
				case <-time.After(grace):
				}
			}
			var errs []error
			for _, g := range groups {
				if err := client.Release(context.Background(), g); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}
	}
}

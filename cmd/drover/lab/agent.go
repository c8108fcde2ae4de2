package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is an agent this process started: done closes once it is reaped.
type proc struct {
	pid  int
	done chan struct{}
}

// startAgents writes each agent's configuration, has the drover binary
// check it inside the host's namespace (where the VIP groups' interfaces
// are), and starts the agents.
func (l *Lab) startAgents(ctx context.Context) error {
	for _, h := range l.t.AgentHosts() {
		cfg, err := l.t.AgentConfig(h.Name, l.stateDir)
		if err != nil {
			return err
		}
		if err := os.WriteFile(l.ConfigPath(h.Name), cfg, 0o644); err != nil {
			return fmt.Errorf("writing the agent configuration: %w", err)
		}
		if err := l.checkConfig(ctx, h.Name); err != nil {
			return err
		}
	}
	for _, h := range l.t.AgentHosts() {
		if err := l.start(ctx, h.Name); err != nil {
			return err
		}
	}
	return nil
}

// checkConfig runs `drover config validate` on host's generated
// configuration; what it refuses comes back as Problems against the
// topology's agent map (or its hosts, when there is none).
func (l *Lab) checkConfig(ctx context.Context, host string) error {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", nsName(l.t.Name, host), l.binary, "config", "validate", l.ConfigPath(host))
	cmd.Env = agentEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.ExitCode() == 2:
		key := "hosts"
		if l.t.Agent != nil {
			key = "agent"
		}
		var ps Problems
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			ps = append(ps, Problem{File: l.t.file, Line: l.t.line(key), Key: key,
				Reason: fmt.Sprintf("drover refuses the configuration generated for %s: %s", host, line)})
		}
		return ps
	default:
		return fmt.Errorf("checking the configuration of %s with %s: %w: %s", host, l.binary, err, strings.TrimSpace(string(out)))
	}
}

// agentEnv is this process's environment without DROVER_* variables,
// which would override the generated configuration.
func agentEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, "DROVER_") })
}

// start starts host's agent and waits until the drover binary runs.
func (l *Lab) start(ctx context.Context, host string) error {
	if pid, ok := l.agentPID(host); ok {
		return fmt.Errorf("agent %s is already running (pid %d)", host, pid)
	}
	if _, err := os.Stat(l.ConfigPath(host)); err != nil {
		return fmt.Errorf("agent %s: %w", host, err)
	}
	logf, err := os.OpenFile(l.LogPath(host), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("agent log: %w", err)
	}
	defer logf.Close() // the agent has its own descriptor
	fmt.Fprintf(logf, "--- drover lab: starting the agent of %s at %s\n", host, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command("ip", "netns", "exec", nsName(l.t.Name, host), l.binary, "agent", "--config", l.ConfigPath(host))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = agentEnv()
	cmd.Dir = "/"
	// A process group of its own: a signal to the lab command (Ctrl-C in
	// its terminal) does not reach the agents.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the agent of %s: %w", host, err)
	}
	p := &proc{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs[host] = p
	l.mu.Unlock()
	if err := os.WriteFile(l.pidPath(host), []byte(strconv.Itoa(p.pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("agent pid file: %w", err)
	}
	// ip netns exec replaces itself with drover: wait for that exec, or
	// for the process to end (a namespace that is gone, a bad binary).
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if argv := cmdline(p.pid); len(argv) > 0 && argv[0] == l.binary {
			l.logf("agent %s: pid %d, config %s, log %s", host, p.pid, l.ConfigPath(host), l.LogPath(host))
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("the agent of %s exited at once: %s", host, l.logTail(host))
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("the agent of %s did not start within 5s", host)
		case <-tick.C:
		}
	}
}

func (l *Lab) logTail(host string) string {
	b, _ := os.ReadFile(l.LogPath(host))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}

// agentPID finds host's running agent: one this process started, else the
// one in the PID file, else a `drover agent` in host's namespace.
func (l *Lab) agentPID(host string) (int, bool) {
	l.mu.Lock()
	p := l.procs[host]
	l.mu.Unlock()
	if p != nil {
		select {
		case <-p.done:
		default:
			return p.pid, true
		}
	}
	cfg := l.ConfigPath(host)
	if b, err := os.ReadFile(l.pidPath(host)); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && alive(pid) && agentConfigArg(cmdline(pid)) == cfg {
			return pid, true
		}
	}
	// In host's own namespace any `drover agent --config .../<host>.yaml`
	// is the lab's, whatever its state directory (Open after a crash).
	pids, _ := nsPIDs(context.Background(), nsName(l.t.Name, host))
	for _, pid := range pids {
		if alive(pid) && filepath.Base(agentConfigArg(cmdline(pid))) == host+".yaml" {
			return pid, true
		}
	}
	return 0, false
}

func (l *Lab) doneChan(host string, pid int) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.procs[host]; p != nil && p.pid == pid {
		return p.done
	}
	return nil
}

// Start starts host's agent again with the configuration Up wrote.
func (l *Lab) Start(host string) error {
	if h, ok := l.t.Host(host); !ok || !h.Agent {
		return fmt.Errorf("lab %s has no agent host %q", l.t.Name, host)
	}
	if err := l.resolveBinary(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return l.start(ctx, host)
}

// Kill ends host's agent at once with SIGKILL (its whole process group),
// as a crash would, and waits for it to be gone.
func (l *Lab) Kill(host string) error {
	pid, ok := l.agentPID(host)
	if !ok {
		return fmt.Errorf("agent %s of lab %s is not running", host, l.t.Name)
	}
	if err := killWait(pid, syscall.SIGKILL, 5*time.Second, l.doneChan(host, pid)); err != nil {
		return fmt.Errorf("killing agent %s: %w", host, err)
	}
	return nil
}

// Stop asks host's agent to stop with SIGTERM, as an operator would, and
// waits up to 5s for it; one still running then is killed and reported.
func (l *Lab) Stop(host string) error {
	pid, ok := l.agentPID(host)
	if !ok {
		return fmt.Errorf("agent %s of lab %s is not running", host, l.t.Name)
	}
	done := l.doneChan(host, pid)
	if err := killWait(pid, syscall.SIGTERM, 5*time.Second, done); err != nil {
		kerr := killWait(pid, syscall.SIGKILL, 5*time.Second, done)
		return errors.Join(fmt.Errorf("stopping agent %s: %w; killed it", host, err), kerr)
	}
	return nil
}

// Build compiles the drover command into dir and returns the binary's
// path, for Options.Binary in tests. It runs the go tool, so it works from
// inside this module's source tree.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "drover")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/droverha/drover/cmd/drover")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building drover: %w\n%s", err, out)
	}
	return bin, nil
}

package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

// droverBin is the binary built once for the end-to-end tests.
var droverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drover-e2e")
	if err != nil {
		panic(err)
	}
	droverBin = filepath.Join(dir, "drover")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=e2e", "-o", droverBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("building drover: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// drover runs the CLI with a clean environment and returns stdout, stderr
// and the exit status.
func drover(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(droverBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

type agentProc struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan struct{}
}

func startAgentProc(t *testing.T, args ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(droverBin, append([]string{"agent"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	p := &agentProc{cmd: cmd, logs: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// term sends SIGTERM and returns how long the agent took to exit.
func (p *agentProc) term(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("agent ignored SIGTERM for 10s; log:\n%s", p.logs)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("agent exit status %d after SIGTERM, want 0; log:\n%s", code, p.logs)
	}
	return time.Since(start)
}

func waitStatus(t *testing.T, args []string, cond func(model.View) bool) model.View {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		out, errs, code := drover(t, append([]string{"status", "-o", "json"}, args...)...)
		if code == 0 {
			v, err := bus.DecodeView([]byte(out))
			if err != nil {
				t.Fatalf("status -o json is not a valid view: %v\n%s", err, out)
			}
			if cond(v) {
				return v
			}
			last = out
		} else {
			last = errs
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("status never matched; last:\n%s", last)
	return model.View{}
}

func TestEmbeddedDefaultRestart(t *testing.T) {
	data := t.TempDir()
	addr := freePort(t)
	busArgs := []string{"--bus-listen", addr}
	agentArgs := append([]string{"--data-dir", data, "--node", "web1"}, busArgs...)

	// Nothing running yet: a plain error, exit 1.
	_, errs, code := drover(t, append([]string{"status"}, busArgs...)...)
	if code != 1 || !strings.Contains(errs, "cannot reach the bus at nats://"+addr) || strings.Contains(errs, "goroutine") {
		t.Fatalf("status without agent: code %d, stderr %q", code, errs)
	}

	p := startAgentProc(t, agentArgs...)
	first := waitStatus(t, busArgs, func(v model.View) bool {
		return v.Manager == "web1" && len(v.Nodes) == 1 && v.Nodes[0].State == model.NodeAlive && v.Quorum.Have
	})
	text, _, code := drover(t, append([]string{"status"}, busArgs...)...)
	if code != 0 || !strings.Contains(text, "manager:  web1 (epoch "+strconv.FormatUint(first.Epoch, 10)+")") {
		t.Errorf("status text:\n%s", text)
	}
	if took := p.term(t); took > 2*time.Second {
		t.Errorf("SIGTERM to exit took %v, want < 2s", took)
	}

	p2 := startAgentProc(t, agentArgs...)
	second := waitStatus(t, busArgs, func(v model.View) bool { return v.Manager == "web1" })
	if second.Cluster != first.Cluster || second.Epoch <= first.Epoch {
		t.Errorf("after restart: cluster %s epoch %d; before: cluster %s epoch %d", second.Cluster, second.Epoch, first.Cluster, first.Epoch)
	}

	// The first run's events are still there, as CloudEvents JSON lines.
	out, errs, code := drover(t, append([]string{"events", "-o", "json"}, busArgs...)...)
	if code != 0 {
		t.Fatalf("events: %d %s", code, errs)
	}
	var types []string
	var lastSeq uint64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e bus.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("events -o json line %q: %v", line, err)
		}
		if e.SpecVersion != "1.0" || e.Seq <= lastSeq {
			t.Errorf("event %+v: want specversion 1.0 and rising droverseq", e)
		}
		lastSeq = e.Seq
		types = append(types, e.DroverType())
	}
	joined := strings.Join(types, " ")
	if !strings.HasPrefix(joined, "config.applied manager.elected node.joined node.left manager.resigned config.applied manager.elected") {
		t.Errorf("events = %s", joined)
	}
	// --from-seq resumes exactly after what was seen.
	out, _, _ = drover(t, append([]string{"events", "-o", "json", "--from-seq", strconv.FormatUint(lastSeq, 10)}, busArgs...)...)
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 1 {
		t.Errorf("--from-seq %d printed %d events, want 1:\n%s", lastSeq, n, out)
	}
	p2.term(t)
}

func TestConfigValidateExitStatus(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("node: web1\nheartbeat:\n  intervall: 1s\n"), 0o644)
	_, errs, code := drover(t, "config", "validate", bad)
	if code != 2 || !strings.Contains(errs, bad+":3: heartbeat.intervall: unknown key") {
		t.Errorf("validate bad: code %d stderr %q", code, errs)
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("node: web1\ncluster: farm\n"), 0o644)
	out, errs, code := drover(t, "config", "validate", good)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("validate good: code %d out %q err %q", code, out, errs)
	}
	// The agent refuses the same bad file before doing anything.
	_, errs, code = drover(t, "agent", "--config", bad, "--data-dir", filepath.Join(dir, "data"))
	if code != 2 || !strings.Contains(errs, "heartbeat.intervall") {
		t.Errorf("agent with bad config: code %d stderr %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Errorf("agent with bad config created its data dir")
	}
}

// drover realserver refuses what cannot name a real server before asking
// the cluster anything.
func TestRealServerCmdBadArguments(t *testing.T) {
	busArgs := []string{"--bus-listen", freePort(t)}
	for _, args := range [][]string{
		{"realserver", "quiesce", "web", "198.51.100.21"},
		{"realserver", "disable", "a.b", "198.51.100.21:80"},
		{"realserver", "enable", "web", "[fe80::1%eth0]:80"},
	} {
		_, errs, code := drover(t, append(args, busArgs...)...)
		if code != 2 || strings.Contains(errs, "goroutine") {
			t.Errorf("%v: exit %d, stderr %q; want 2", args, code, errs)
		}
	}
	_, errs, code := drover(t, append([]string{"realserver", "quiesce", "web", "198.51.100.21:80"}, busArgs...)...)
	if code != 1 || !strings.Contains(errs, "cannot reach the bus") {
		t.Errorf("without an agent: exit %d, stderr %q; want 1", code, errs)
	}
}

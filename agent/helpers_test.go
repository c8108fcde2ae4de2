package agent

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/droverha/drover/model"
)

// testTiming is fast enough for tests and keeps the ratios of the defaults.
func testConfig(t testing.TB, node string) Config {
	t.Helper()
	lvl := slog.LevelWarn
	if os.Getenv("DROVER_TEST_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return Config{
		Node: node, Cluster: "test", DataDir: t.TempDir(), Version: "test",
		Embedded:          &EmbeddedBus{Listen: "127.0.0.1:0"},
		Voters:            1,
		HeartbeatInterval: 100 * time.Millisecond,
		SuspectAfter:      300 * time.Millisecond,
		DeadAfter:         800 * time.Millisecond,
		LeaseTTL:          2 * time.Second,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})).With("test", t.Name()),
	}
}

// running is an agent started by a test.
type running struct {
	*Agent
	cancel context.CancelFunc
	done   chan error
}

func startAgent(t testing.TB, cfg Config) *running {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Node, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-r.done:
		t.Fatalf("agent %s exited at start: %v", cfg.Node, err)
	case <-time.After(15 * time.Second):
		t.Fatalf("agent %s not ready after 15s", cfg.Node)
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop stops the agent gracefully and returns how long it took.
func (r *running) stop(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	r.cancel()
	select {
	case <-r.done:
		r.done <- nil // let a later stop return at once
	case <-time.After(10 * time.Second):
		t.Errorf("agent did not stop within 10s")
	}
	return time.Since(start)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nodeState(v model.View, name string) model.NodeState {
	for _, n := range v.Nodes {
		if n.Name == name {
			return n.State
		}
	}
	return model.NodeUnknown
}

package agent

import (
	"testing"
	"time"

	"github.com/droverha/drover/bus"
)

// With an external bus the agents run no server of their own: three agents
// share one nats-server started here, elect one manager, and a graceful
// leave hands the lease on at once.
func TestExternalBus(t *testing.T) {
	srv, err := bus.StartServer(bus.ServerConfig{Name: "ext", Cluster: "ext", Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown) // after the agents' own cleanups
	var rs []*running
	for _, name := range []string{"e1", "e2", "e3"} {
		cfg := testConfig(t, name)
		cfg.Embedded = nil
		cfg.External = &ExternalBus{URLs: []string{srv.ClientURL()}}
		cfg.Voters = 3
		rs = append(rs, startAgent(t, cfg))
	}
	leader := func() (string, int) {
		n, name := 0, ""
		for _, r := range rs {
			if r == nil {
				continue
			}
			r.mu.Lock()
			if r.leader {
				n, name = n+1, r.cfg.Node
			}
			r.mu.Unlock()
		}
		return name, n
	}
	var first string
	waitFor(t, 15*time.Second, "one manager seen by all", func() bool {
		name, n := leader()
		if n != 1 {
			return false
		}
		for _, r := range rs {
			if v := r.View(); v.Manager != name || !v.Quorum.Have || len(v.Nodes) != 3 {
				return false
			}
		}
		first = name
		return true
	})
	var idx int
	for i, r := range rs {
		if r.cfg.Node == first {
			idx = i
		}
	}
	// A graceful stop releases the lease: a successor follows well within
	// the lease TTL, and the others see the old manager as left, not dead.
	stopped := time.Now()
	rs[idx].stop(t)
	rs[idx] = nil
	waitFor(t, 2*time.Second, "a new manager after a graceful leave", func() bool {
		name, n := leader()
		return n == 1 && name != first
	})
	t.Logf("successor after graceful leave in %v", time.Since(stopped).Round(time.Millisecond))
	for _, r := range rs {
		if r != nil {
			if s := nodeState(r.View(), first); s.String() != "left" {
				t.Errorf("%s sees %s as %v, want left", r.cfg.Node, first, s)
			}
		}
	}
}

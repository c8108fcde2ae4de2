package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/droverha/drover/cmd/drover/config"
)

// TestDemoTopology: the demo's lab is valid, and drover accepts every
// agent configuration it generates.
func TestDemoTopology(t *testing.T) {
	topo := DemoTopology()
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, h := range topo.AgentHosts() {
		b, err := topo.AgentConfig(h.Name, dir)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, h.Name+".yaml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := config.LoadFile(path)
		if err != nil {
			// The VIP group's interface is checked on this host, which
			// need not have an eth0: the lab checks inside the namespace.
			if ps, ok := err.(config.Problems); ok && onlyInterface(ps) {
				t.Logf("%s: %v", h.Name, err)
				continue
			}
			t.Fatalf("%s: %v", h.Name, err)
		}
		if len(c.Services) != 1 || len(c.Services[0].RealServers) != 3 {
			t.Errorf("%s: services %+v, want web with 3 real servers", h.Name, c.Services)
		}
	}
}

func onlyInterface(ps config.Problems) bool {
	for _, p := range ps {
		if !strings.Contains(p.Key, "interface") {
			return false
		}
	}
	return true
}

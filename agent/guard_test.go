package agent

import (
	"encoding/json"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/droverha/drover/agent/vip"
)

func TestGuardReleasesWhenTheAgentDies(t *testing.T) {
	for _, tt := range []struct {
		name  string
		grace time.Duration
	}{{"crash: at once", 0}, {"graceful stop: after the restart grace", 300 * time.Millisecond}} {
		t.Run(tt.name, func(t *testing.T) {
			host := vip.NewFake()
			g := vip.Group{Name: "web", Interface: "eth0", Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.50/24")}}
			if _, err := host.Acquire(t.Context(), g); err != nil {
				t.Fatal(err)
			}
			r, w := io.Pipe()
			done := make(chan error, 1)
			go func() { done <- RunGuard(r, host) }()
			enc := json.NewEncoder(w)
			_ = enc.Encode(guardMsg{Groups: []vip.Group{g}})
			if tt.grace > 0 {
				_ = enc.Encode(guardMsg{GraceMS: tt.grace.Milliseconds()})
			}
			closed := time.Now()
			w.Close() // the agent is gone
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("guard did not finish")
			}
			if host.Answering("web") {
				t.Fatal("guard left the addresses up")
			}
			if took := time.Since(closed); took < tt.grace || took > tt.grace+time.Second {
				t.Errorf("released %v after the agent went, want about %v", took, tt.grace)
			}
		})
	}
}

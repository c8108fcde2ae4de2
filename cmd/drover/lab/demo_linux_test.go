package lab

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPrivilegedLBDemo runs `drover lab demo` as the README's first
// command does, so that it does not rot: every step must work.
func TestPrivilegedLBDemo(t *testing.T) {
	ipvsLab(t)
	bin := labBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	err := Demo(ctx, DemoOptions{Binary: bin, StateDir: filepath.Join(t.TempDir(), DemoName), Out: &out})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"answered by rs1", "answered by rs2", "answered by rs3", "its VIP guard dropped it", "dir2 holds the VIP", "The client carried on through dir2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's story lacks %q", want)
		}
	}
}

package cim

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func readAudit(t *testing.T, path string) []AuditEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []AuditEntry
	for line := range strings.Lines(string(b)) {
		var e AuditEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// TestAuditAppends: entries are appended as JSON lines to what the file
// held, the time in UTC, and the file is private.
func TestAuditAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(`{"time":"2026-01-01T00:00:00Z","user":"old","source":"","action":"x","target":"","result":"0"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Time { return time.Date(2026, 11, 22, 10, 0, 1, 5, time.UTC) }
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 11, 0, 0, 123456789, time.FixedZone("CET", 3600))
	entries := []AuditEntry{
		{Time: at, User: "alice", Source: "192.0.2.7:4000", Action: "DRV_Node.RequestStateChange(6)", Target: `root/drover:DRV_Node.Name="dir2"`, Result: "4096"},
		{User: "bob", Source: "192.0.2.8:4000", Action: "DRV_VIPGroup.Failover", Target: `root/drover:DRV_VIPGroup.Name="web"`, Result: "denied"},
	}
	for _, e := range entries {
		if err := a.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, entries[0]); err == nil {
		t.Error("Record after Close: no error")
	}
	got := readAudit(t, path)
	entries[0].Time = at.UTC()
	entries[1].Time = a.now()
	want := append([]AuditEntry{{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), User: "old", Action: "x", Result: "0"}}, entries...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit log (-want +got):\n%s", diff)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"time":"2026-11-22T10:00:00.123456789Z"`) {
		t.Errorf("time not RFC 3339 with nanoseconds in UTC:\n%s", b)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
}

func TestAuditNewFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new audit log: %v, %v; want mode 0600", st.Mode().Perm(), err)
	}
}

// TestAuditReopen: after logrotate renames the file, Reopen starts a new
// one at the path and later entries go there.
func TestAuditReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	a, err := OpenAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	if err := a.Record(ctx, AuditEntry{User: "first"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, AuditEntry{User: "second"}); err != nil { // still the renamed file
		t.Fatal(err)
	}
	if err := a.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, AuditEntry{User: "third"}); err != nil {
		t.Fatal(err)
	}
	users := func(p string) (out []string) {
		for _, e := range readAudit(t, p) {
			out = append(out, e.User)
		}
		return out
	}
	if diff := cmp.Diff([]string{"first", "second"}, users(path+".1")); diff != "" {
		t.Errorf("rotated file (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"third"}, users(path)); diff != "" {
		t.Errorf("new file (-want +got):\n%s", diff)
	}
}

// TestAuditWriteFails: a full disk (/dev/full) makes Record fail, so the
// caller refuses the request instead of acting unaudited.
func TestAuditWriteFails(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	a, err := OpenAuditFile("/dev/full")
	if err != nil {
		t.Skipf("cannot open /dev/full: %v", err)
	}
	defer a.Close()
	err = a.Record(context.Background(), AuditEntry{User: "alice", Action: "DRV_Node.RequestStateChange(6)"})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("Record on /dev/full: %v, want no space left on device", err)
	}
}

func TestAuditOpenFails(t *testing.T) {
	_, err := OpenAuditFile(filepath.Join(t.TempDir(), "no", "such", "dir", "audit.log"))
	if err == nil {
		t.Error("no error for a missing directory")
	}
}

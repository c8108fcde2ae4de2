package lab

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree writes files (content "file:NAME") and symlinks ("-> TARGET") under
// a temporary root.
func tree(t *testing.T, spec map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, v := range spec {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(v, "-> "); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestResolveIn(t *testing.T) {
	root := tree(t, map[string]string{
		"lib/x86_64-linux-gnu/libfoo.so.1.2.3": "foo",
		"lib/x86_64-linux-gnu/libfoo.so.1":     "-> libfoo.so.1.2.3",
		"lib/x86_64-linux-gnu/ld-2.36.so":      "ld",
		"lib64/ld-linux-x86-64.so.2":           "-> /lib/x86_64-linux-gnu/ld-2.36.so",
		"usr/lib/x86_64-linux-gnu/libbar.so.0": "-> ../../../lib/x86_64-linux-gnu/libfoo.so.1",
		"bin/escape":                           "-> ../../../../../../etc/hostname",
		"bin/loop1":                            "-> loop2",
		"bin/loop2":                            "-> loop1",
		"bin/dangling":                         "-> nowhere",
		"lib/dir/x":                            "x",
	})
	tests := []struct {
		guest, want string // want: content of the file found, "" for an error
	}{
		{"/lib/x86_64-linux-gnu/libfoo.so.1", "foo"},
		{"/lib64/ld-linux-x86-64.so.2", "ld"}, // absolute target: inside root, not the host's
		{"/usr/lib/x86_64-linux-gnu/libbar.so.0", "foo"},
		{"/bin/escape", ""}, // .. stops at root: there is no etc/hostname in it
		{"/bin/loop1", ""},
		{"/bin/dangling", ""},
		{"/lib/dir", ""}, // a directory is no library
		{"/nonexistent", ""},
	}
	for _, tt := range tests {
		host, err := resolveIn(root, tt.guest)
		if tt.want == "" {
			if err == nil {
				t.Errorf("resolveIn(%s) = %s, want an error", tt.guest, host)
			}
			continue
		}
		if err != nil {
			t.Errorf("resolveIn(%s): %v", tt.guest, err)
			continue
		}
		if !strings.HasPrefix(host, root) {
			t.Errorf("resolveIn(%s) = %s, outside the root", tt.guest, host)
		}
		if b, _ := os.ReadFile(host); string(b) != tt.want {
			t.Errorf("resolveIn(%s) found %q, want %q", tt.guest, b, tt.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"/bin/ip":                         "/usr/bin/ip",
		"/sbin/ipvsadm":                   "/usr/sbin/ipvsadm",
		"/lib64/ld-linux-x86-64.so.2":     "/usr/lib64/ld-linux-x86-64.so.2",
		"/lib/x86_64-linux-gnu/libc.so.6": "/usr/lib/x86_64-linux-gnu/libc.so.6",
		"/libexec/x":                      "/libexec/x",
		"/binary":                         "/binary",
		"/usr/bin/ip":                     "/usr/bin/ip",
		"/kernellab/bin/0.test":           "/kernellab/bin/0.test",
	} {
		if got := canonical(in); got != want {
			t.Errorf("canonical(%s) = %s, want %s", in, got, want)
		}
	}
}

// hostDynamic returns a dynamically linked program of the host, or skips.
func hostDynamic(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		libs, _ := f.ImportedLibraries()
		f.Close()
		if len(libs) > 0 {
			return p
		}
	}
	t.Skip("no dynamically linked /bin/true on this host")
	return ""
}

func TestResolveLibsHost(t *testing.T) {
	prog := hostDynamic(t)
	libs, err := ResolveLibs([]string{"/"}, prog)
	if err != nil {
		t.Fatal(err)
	}
	var haveLibc, haveLoader bool
	for _, l := range libs {
		haveLibc = haveLibc || strings.HasSuffix(l.Guest, "/libc.so.6")
		haveLoader = haveLoader || strings.Contains(l.Guest, "ld-linux")
		if !strings.HasPrefix(l.Guest, "/usr/") && !strings.HasPrefix(l.Guest, "/lib64/") {
			t.Errorf("%s: not in the merged-/usr layout", l.Guest)
		}
	}
	if !haveLibc || !haveLoader {
		t.Errorf("libraries of %s: %v, want libc.so.6 and the loader", prog, libs)
	}
}

func TestResolveLibsMissing(t *testing.T) {
	prog := hostDynamic(t)
	empty := t.TempDir()
	if _, err := ResolveLibs([]string{empty}, prog); err == nil {
		t.Error("no error for libraries in no root")
	}
}

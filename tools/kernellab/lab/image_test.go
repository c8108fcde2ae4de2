package lab

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeRoot is an extracted-packages tree whose programs are copies of a
// host program (their libraries come from the host through LibRoots).
func fakeRoot(t *testing.T) (root string, k *Kernel) {
	t.Helper()
	prog, err := os.ReadFile(hostDynamic(t))
	if err != nil {
		t.Fatal(err)
	}
	root = t.TempDir()
	for _, p := range []string{"/bin/busybox", "/bin/dash", "/bin/ip", "/sbin/bridge", "/sbin/tc", "/sbin/ipvsadm"} {
		host := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(host, prog, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mods := filepath.Join(root, "lib/modules/6.1.0-9-cloud-amd64")
	if err := os.MkdirAll(filepath.Join(root, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "boot/vmlinuz-6.1.0-9-cloud-amd64"), []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(mods), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(ipvsTree(t), mods); err != nil {
		t.Fatal(err)
	}
	k, err = FindKernel(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, k
}

func TestBuildImage(t *testing.T) {
	root, k := fakeRoot(t)
	if k.Version != "6.1.0-9-cloud-amd64" {
		t.Fatalf("FindKernel version = %q", k.Version)
	}
	set, err := ResolveModules(k.ModuleDir, []string{"ip_vs_rr"}, []string{"veth"})
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	os.MkdirAll(filepath.Join(data, "testdata", "sub"), 0o755)
	os.WriteFile(filepath.Join(data, "testdata", "sub", "x.golden"), []byte("golden\n"), 0o644)
	os.Symlink("sub/x.golden", filepath.Join(data, "testdata", "link"))

	var buf bytes.Buffer
	err = BuildImage(&buf, ImageSpec{
		Root: root, Kernel: k, Modules: set, Nonce: "n0nce", Run: "echo hi\n",
		Files: []HostFile{
			{Host: filepath.Join(data, "testdata"), Guest: "/src/agent/ipvs/testdata"},
			{Host: filepath.Join(root, "bin/ip"), Guest: "/bin/drover"},
		},
		LibRoots: []string{"/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := readCpio(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]entry{}
	kinds := map[string]uint32{}
	for _, e := range entries {
		if e.Name == "TRAILER!!!" {
			continue
		}
		// The kernel creates no parents and follows no symlinks of the
		// archive: every parent must be an earlier directory entry.
		if dir := path.Dir(e.Name); dir != "." && kinds[dir] != modeDir {
			t.Errorf("%s comes before its parent directory %s", e.Name, dir)
		}
		byName[e.Name] = e
		kinds[e.Name] = e.Mode & 0o170000
	}
	checks := []struct {
		name string
		mode uint32
		data string // "" to skip the comparison
	}{
		{"init", modeRegular | 0o755, string(initScript)},
		{"kernellab/nonce", modeRegular | 0o644, "n0nce\n"},
		{"kernellab/run.sh", modeRegular | 0o755, "echo hi\n"},
		{"bin", modeSymlink | 0o777, "usr/bin"},
		{"sbin", modeSymlink | 0o777, "usr/sbin"},
		{"lib64", modeSymlink | 0o777, "usr/lib64"},
		{"var/run", modeSymlink | 0o777, "../run"},
		{"tmp", modeDir | 0o1777, ""},
		{"usr/bin/sh", modeSymlink | 0o777, "dash"},
		{"usr/sbin/ip", modeSymlink | 0o777, "../bin/ip"},
		{"usr/bin/ip", modeRegular | 0o755, ""},
		{"usr/bin/busybox", modeRegular | 0o755, ""},
		{"usr/sbin/ipvsadm", modeRegular | 0o755, ""},
		{"usr/bin/drover", modeRegular | 0o755, ""},
		{"kernellab/modules", modeRegular | 0o644, "" +
			"/lib/modules/6.1.0-9-cloud-amd64/kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko\n" +
			"/lib/modules/6.1.0-9-cloud-amd64/kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko\n" +
			"/lib/modules/6.1.0-9-cloud-amd64/kernel/net/netfilter/nf_conntrack.ko\n" +
			"/lib/modules/6.1.0-9-cloud-amd64/kernel/lib/libcrc32c.ko\n" +
			"/lib/modules/6.1.0-9-cloud-amd64/kernel/net/netfilter/ipvs/ip_vs.ko\n" +
			"/lib/modules/6.1.0-9-cloud-amd64/kernel/net/netfilter/ipvs/ip_vs_rr.ko\n"},
		{"usr/lib/modules/6.1.0-9-cloud-amd64/kernel/net/netfilter/ipvs/ip_vs_rr.ko", modeRegular | 0o644, ""},
		{"usr/lib/modules/6.1.0-9-cloud-amd64/kernel/drivers/net/veth.ko", modeRegular | 0o644, ""}, // shipped, loaded on demand
		{"usr/lib/modules/6.1.0-9-cloud-amd64/modules.alias", modeRegular | 0o644, "alias ip_vs_scheduler_rr ip_vs_rr\nalias rtnl-link-veth veth\n"},
		{"usr/lib/modules/6.1.0-9-cloud-amd64/modules.dep", modeRegular | 0o644, set.ModulesDep()},
		{"usr/lib/modules/6.1.0-9-cloud-amd64/modules.builtin", modeRegular | 0o644, ""},
		{"src/agent/ipvs/testdata/sub/x.golden", modeRegular | 0o644, "golden\n"},
		{"src/agent/ipvs/testdata/link", modeSymlink | 0o777, "sub/x.golden"},
	}
	for _, c := range checks {
		e, ok := byName[c.name]
		if !ok {
			t.Errorf("%s: not in the image", c.name)
			continue
		}
		if e.Mode != c.mode {
			t.Errorf("%s: mode %o, want %o", c.name, e.Mode, c.mode)
		}
		if c.data != "" {
			if diff := cmp.Diff(c.data, e.Data); diff != "" {
				t.Errorf("%s (-want +got):\n%s", c.name, diff)
			}
		}
	}
	var libc bool
	for name := range byName {
		libc = libc || strings.HasSuffix(name, "/libc.so.6")
	}
	if !libc {
		t.Error("no libc.so.6 in the image")
	}
}

func TestFindKernelEmpty(t *testing.T) {
	if _, err := FindKernel(t.TempDir()); err == nil {
		t.Error("no error for a tree without a kernel")
	}
}

func TestRelLink(t *testing.T) {
	for _, tt := range [][3]string{
		{"/usr/sbin/ip", "/usr/bin/ip", "../bin/ip"},
		{"/usr/bin/sh", "/usr/bin/dash", "dash"},
		{"/a/b/c/d", "/x/y", "../../../x/y"},
	} {
		if got := relLink(tt[0], tt[1]); got != tt[2] {
			t.Errorf("relLink(%s, %s) = %s, want %s", tt[0], tt[1], got, tt[2])
		}
	}
}

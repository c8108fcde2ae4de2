package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// KernelMetaPackage is Debian's package that always depends on the
// current cloud kernel.
const KernelMetaPackage = "linux-image-cloud-amd64"

// Packages are the Debian packages extracted into the lab's tree besides
// the kernel: busybox, iproute2 and ipvsadm with the libraries they link
// (BuildImage checks with ResolveLibs that nothing is missing, and falls
// back to the host's copies). Debian 12 names.
var Packages = []string{
	"busybox-static", "dash", "ipvsadm", "iproute2",
	"libc6", "libnl-3-200", "libnl-genl-3-200", "libpopt0",
	"libbpf1", "libelf1", "libmnl0", "libbsd0", "libmd0", "libcap2", "zlib1g",
	"libxtables12",
}

// stampFile in the extracted tree lists the .deb files it came from.
const stampFile = ".kernellab-debs"

// Cache is the lab's download cache: .deb files and the tree they are
// extracted into.
type Cache struct {
	Dir string // .cache/kernellab in the module root
	Log *slog.Logger
}

// Root is where the packages are extracted.
func (c *Cache) Root() string { return filepath.Join(c.Dir, "root") }

// Ready reports whether the cache holds an extracted tree.
func (c *Cache) Ready() bool {
	_, err := os.Stat(filepath.Join(c.Root(), stampFile))
	return err == nil
}

// Fetch downloads the kernel and Packages with `apt-get download` (never
// installing them: the host's /boot stays as it is) and extracts them
// with `dpkg-deb -x`. It does nothing when the tree is already there,
// unless refresh is set. As root it runs `apt-get update` once when apt
// has no lists, or stale ones, and tries again.
func (c *Cache) Fetch(ctx context.Context, refresh bool) error {
	if c.Ready() && !refresh {
		c.Log.Info("lab cache is ready", "dir", c.Root())
		return nil
	}
	err := c.fetch(ctx)
	if err == nil || os.Geteuid() != 0 {
		return err
	}
	c.Log.Info("running apt-get update", "after", err)
	if out, uerr := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
		return fmt.Errorf("apt-get update: %w\n%s", uerr, out)
	}
	return c.fetch(ctx)
}

func (c *Cache) fetch(ctx context.Context) error {
	kernel, err := kernelPackage(ctx)
	if err != nil {
		return err
	}
	debs := filepath.Join(c.Dir, "debs")
	if err := os.RemoveAll(debs); err != nil {
		return err
	}
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	pkgs := append([]string{kernel}, Packages...)
	c.Log.Info("downloading packages", "packages", strings.Join(pkgs, " "))
	args := []string{"-q"}
	if os.Geteuid() == 0 {
		// As root apt would switch to _apt, which may not write here.
		args = append(args, "-o", "APT::Sandbox::User=root")
	}
	args = append(append(args, "download"), pkgs...)
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Dir = debs
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download: %w\n%s", err, out)
	}
	files, err := debFiles(debs, pkgs)
	if err != nil {
		return err
	}
	tmp := c.Root() + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	for _, f := range files {
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", f, tmp).CombinedOutput(); err != nil {
			return fmt.Errorf("extracting %s: %w\n%s", f, err, out)
		}
	}
	var stamp bytes.Buffer
	for _, f := range files {
		stamp.WriteString(filepath.Base(f) + "\n")
	}
	if err := os.WriteFile(filepath.Join(tmp, stampFile), stamp.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(c.Root()); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.Root()); err != nil {
		return err
	}
	k, err := FindKernel(c.Root())
	if err != nil {
		return err
	}
	c.Log.Info("lab cache ready", "dir", c.Root(), "kernel", k.Version)
	return nil
}

// kernelPackage resolves the metapackage to the versioned kernel package
// it depends on ("linux-image-6.1.0-56-cloud-amd64").
func kernelPackage(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", KernelMetaPackage).Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends %s: %w (run apt-get update first)", KernelMetaPackage, err)
	}
	if name := parseKernelDepends(string(out)); name != "" {
		return name, nil
	}
	return "", fmt.Errorf("apt-cache depends %s: no linux-image dependency (run apt-get update first)", KernelMetaPackage)
}

func parseKernelDepends(out string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			return f[1]
		}
	}
	return ""
}

// debFiles finds the one downloaded .deb of each package
// (pkg_VERSION_ARCH.deb).
func debFiles(dir string, pkgs []string) ([]string, error) {
	var files []string
	for _, p := range pkgs {
		m, err := filepath.Glob(filepath.Join(dir, p+"_*.deb"))
		if err != nil {
			return nil, err
		}
		if len(m) != 1 {
			return nil, fmt.Errorf("apt-get download left %d %s_*.deb in %s, want 1", len(m), p, dir)
		}
		files = append(files, m[0])
	}
	return files, nil
}

package lab

import (
	_ "embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

//go:embed init.sh
var initScript []byte

// Program is an executable from the extracted Debian packages.
type Program struct {
	Pkg   string   // path in the package tree: "/sbin/ipvsadm"
	Links []string // extra guest names, symlinked to it
}

// Programs are the real (non-busybox) tools of the image: iproute2,
// because busybox's ip has no "ip netns"; ipvsadm; and dash as /bin/sh,
// because Debian's busybox shell runs its own applets before searching
// PATH, so `sh -c "ip netns add x"` would get busybox's ip. Their shared
// libraries come along.
var Programs = []Program{
	{Pkg: "/bin/dash", Links: []string{"/usr/bin/sh"}},
	{Pkg: "/bin/ip", Links: []string{"/usr/sbin/ip"}},
	{Pkg: "/sbin/bridge"},
	{Pkg: "/sbin/tc"},
	{Pkg: "/sbin/ipvsadm"},
}

// HostFile is a host file or directory tree copied into the image.
type HostFile struct {
	Host  string // file or directory on the host
	Guest string // absolute path in the guest
}

// ImageSpec is what BuildImage puts in an initramfs.
type ImageSpec struct {
	Root    string     // extracted Debian packages (see Fetch)
	Kernel  *Kernel    // from FindKernel(Root)
	Modules *ModuleSet // from ResolveModules
	Nonce   string     // marker of this run's console lines
	Run     string     // shell script run by /init after boot
	Files   []HostFile // programs, test binaries, testdata trees
	// LibRoots are searched for shared libraries after Root, "/" usually.
	LibRoots []string
}

// BuildImage writes the initramfs: a merged-/usr tree with busybox (its
// applets are linked at boot), iproute2, ipvsadm and their libraries, the
// modules with modules.dep, /init, and the files of the spec.
func BuildImage(w io.Writer, spec ImageSpec) error {
	cw := NewWriter(w)
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "dev", "proc", "sys", "run", "root", "etc", "var", "kernellab", "mnt"} {
		if err := cw.Dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := cw.Dir("tmp", fs.ModeSticky|0o777); err != nil {
		return err
	}
	for _, l := range [][2]string{
		{"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib64"},
		{"var/run", "../run"}, {"var/tmp", "../tmp"},
	} {
		if err := cw.Symlink(l[0], l[1]); err != nil {
			return err
		}
	}
	etc := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":    "root:x:0:\n",
		"etc/hostname": "kernellab\n",
		"etc/hosts":    "127.0.0.1\tlocalhost kernellab\n::1\tlocalhost ip6-localhost\n",
	}
	for _, name := range []string{"etc/group", "etc/hostname", "etc/hosts", "etc/passwd"} {
		if err := cw.File(name, 0o644, []byte(etc[name])); err != nil {
			return err
		}
	}
	if err := cw.File("init", 0o755, initScript); err != nil {
		return err
	}
	if err := cw.File("kernellab/nonce", 0o644, []byte(spec.Nonce+"\n")); err != nil {
		return err
	}
	if err := cw.File("kernellab/run.sh", 0o755, []byte(spec.Run)); err != nil {
		return err
	}

	busybox, err := resolveIn(spec.Root, "/bin/busybox")
	if err != nil {
		return fmt.Errorf("busybox in %s: %w", spec.Root, err)
	}
	if err := cw.CopyFile("usr/bin/busybox", busybox); err != nil {
		return err
	}
	var hosts []string
	for _, p := range Programs {
		host, err := resolveIn(spec.Root, p.Pkg)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", p.Pkg, spec.Root, err)
		}
		if err := cw.CopyFile(canonical(p.Pkg), host); err != nil {
			return err
		}
		for _, l := range p.Links {
			if err := cw.Symlink(canonical(l), relLink(canonical(l), canonical(p.Pkg))); err != nil {
				return err
			}
		}
		hosts = append(hosts, host)
	}
	libs, err := ResolveLibs(append([]string{spec.Root}, spec.LibRoots...), hosts...)
	if err != nil {
		return err
	}
	for _, l := range libs {
		if err := cw.CopyFile(canonical(l.Guest), l.Host); err != nil {
			return err
		}
	}

	if err := writeModules(cw, spec); err != nil {
		return err
	}
	for _, f := range spec.Files {
		if err := copyTree(cw, f.Host, canonical(f.Guest)); err != nil {
			return err
		}
	}
	return cw.Close()
}

func writeModules(cw *Writer, spec ImageSpec) error {
	base := "usr/lib/modules/" + spec.Kernel.Version
	var order strings.Builder
	for _, m := range spec.Modules.Modules {
		if err := cw.File(base+"/"+m.Path, 0o644, m.Data); err != nil {
			return err
		}
		if m.Preload {
			order.WriteString("/lib/modules/" + spec.Kernel.Version + "/" + m.Path + "\n")
		}
	}
	files := map[string]string{
		"modules.dep":   spec.Modules.ModulesDep(),
		"modules.alias": spec.Modules.ModulesAlias(),
	}
	for _, name := range []string{"modules.alias", "modules.dep"} {
		if err := cw.File(base+"/"+name, 0o644, []byte(files[name])); err != nil {
			return err
		}
	}
	for _, name := range []string{"modules.builtin", "modules.order"} {
		host := filepath.Join(spec.Modules.Dir, name)
		if _, err := os.Stat(host); err == nil {
			if err := cw.CopyFile(base+"/"+name, host); err != nil {
				return err
			}
		}
	}
	return cw.File("kernellab/modules", 0o644, []byte(order.String()))
}

// copyTree copies a host file, or a directory with its files and
// symlinks, to guest.
func copyTree(cw *Writer, host, guest string) error {
	st, err := os.Stat(host)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return cw.CopyFile(guest, host)
	}
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(host, p)
		if err != nil {
			return err
		}
		g := path.Join(guest, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return cw.Dir(g, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return cw.Symlink(g, target)
		case d.Type().IsRegular():
			return cw.CopyFile(g, p)
		}
		return nil // sockets, fifos: not for a test's data
	})
}

// relLink returns the relative symlink target from link to target, both
// absolute guest paths.
func relLink(link, target string) string {
	from := strings.Split(path.Dir(link), "/")
	to := strings.Split(target, "/")
	i := 0
	for i < len(from) && i < len(to)-1 && from[i] == to[i] {
		i++
	}
	rel := strings.Repeat("../", len(from)-i) + strings.Join(to[i:], "/")
	return rel
}

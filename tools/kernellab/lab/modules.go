package lab

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoModule is returned when a required module is neither in the module
// tree nor built into the kernel.
var ErrNoModule = errors.New("no such kernel module")

// IPVSModules are the modules the lab loads at boot: IPVS with every
// scheduler, its tunnel mode, and what a farm in network namespaces needs.
// ip_vs_twos is listed but optional: Linux 6.1 (Debian 12) has no such
// scheduler; a later kernel would bring it.
var IPVSModules = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc",
	"ip_vs_lblcr", "ip_vs_dh", "ip_vs_sh", "ip_vs_sed", "ip_vs_nq", "ip_vs_mh",
	"ip_vs_fo", "ip_vs_ovf",
	"nf_conntrack", "nf_defrag_ipv4", "nf_defrag_ipv6", "libcrc32c",
	"ipip", "tunnel4", "ip_tunnel",
	"veth", "macvlan", "bridge", "dummy",
}

// OptionalModules are shipped when the kernel has them, not loaded at
// boot: the kernel asks modprobe (busybox's, with the image's
// modules.dep and modules.alias) for them on first use, as it does for
// "ip link add ... type vrf" or an nftables expression. nftables for
// ClusterIP buckets, VLANs, IPv6 tunnels; xfrm_user because a netlink
// handle of github.com/vishvananda/netlink opens an XFRM socket too (the
// VIP driver's), which fails without it.
var OptionalModules = []string{
	"ip_vs_twos", "ip_vs_ftp", "xt_ipvs", "xfrm_user",
	"nf_nat", "nf_tables", "nfnetlink", "nf_conntrack_netlink",
	"nft_ct", "nft_hash", "nft_numgen", "nft_nat", "nft_chain_nat", "nft_masq",
	"nft_redir", "nft_reject_inet", "nft_fib_inet", "nft_limit",
	"8021q", "ip6_tunnel", "tunnel6", "tun", "vrf", "ifb",
}

// Module is one loadable kernel module in load order.
type Module struct {
	Name    string   // as the kernel knows it: underscores, no suffix
	Path    string   // relative to the module directory, decompressed: "kernel/net/.../ip_vs.ko"
	Depends []string // direct dependencies, from .modinfo "depends="
	Aliases []string // from .modinfo "alias="
	Data    []byte   // the uncompressed .ko
	Preload bool     // loaded at boot: required, or needed by a required one
}

// ModuleSet is the closure of the wanted modules under their dependencies.
type ModuleSet struct {
	Dir     string   // the host module directory (…/lib/modules/VERSION)
	Modules []Module // load order: every module after its dependencies
	Builtin []string // wanted or needed names built into the kernel
	Missing []string // optional names the kernel does not have
}

// ModName normalizes a module name or file name to the kernel's form:
// "ip-vs.ko.xz" and "ip_vs" are both "ip_vs".
func ModName(s string) string {
	s = filepath.Base(s)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		s = strings.TrimSuffix(s, ext)
	}
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// ResolveModules finds the wanted modules (required) and optional ones in
// dir (a lib/modules/VERSION tree), adds their dependencies and soft
// pre/post dependencies, and returns them in load order. Debian's kernel
// package has no modules.dep (depmod writes it at install time), so the
// dependencies are read from each module's .modinfo section. Compressed
// modules (.ko.xz, .ko.zst, .ko.gz) are decompressed, because busybox's
// insmod loads only plain ELF, and signatures are stripped (see
// StripSignature). Required modules and their dependencies are marked
// Preload.
func ResolveModules(dir string, required, optional []string) (*ModuleSet, error) {
	index, err := indexModules(dir)
	if err != nil {
		return nil, err
	}
	builtin, err := readBuiltin(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, err
	}
	r := &resolver{dir: dir, index: index, builtin: builtin, state: map[string]int{}, set: &ModuleSet{Dir: dir}, preload: true}
	for _, name := range required {
		if err := r.visit(ModName(name), nil); err != nil {
			return nil, err
		}
	}
	r.preload = false
	for _, name := range optional {
		name = ModName(name)
		if _, ok := index[name]; !ok && !builtin[name] {
			r.set.Missing = append(r.set.Missing, name)
			continue
		}
		if err := r.visit(name, nil); err != nil {
			return nil, err
		}
	}
	sort.Strings(r.set.Builtin)
	return r.set, nil
}

type resolver struct {
	dir     string
	index   map[string]string // name -> path relative to dir, as on disk
	builtin map[string]bool
	state   map[string]int // 1 visiting, 2 done
	set     *ModuleSet
	preload bool // what visit sets Module.Preload to
}

// visit adds name after its dependencies (depth first, in .modinfo order,
// so the result is deterministic).
func (r *resolver) visit(name string, chain []string) error {
	switch r.state[name] {
	case 2:
		return nil
	case 1:
		return fmt.Errorf("module dependency cycle: %s -> %s", strings.Join(chain, " -> "), name)
	}
	rel, ok := r.index[name]
	if !ok {
		if r.builtin[name] {
			r.state[name] = 2
			r.set.Builtin = append(r.set.Builtin, name)
			return nil
		}
		if len(chain) > 0 {
			return fmt.Errorf("%w: %s (needed by %s)", ErrNoModule, name, strings.Join(chain, " <- "))
		}
		return fmt.Errorf("%w: %s in %s", ErrNoModule, name, r.dir)
	}
	r.state[name] = 1
	data, err := readModule(filepath.Join(r.dir, rel))
	if err != nil {
		return err
	}
	info, err := Modinfo(data)
	if err != nil {
		return fmt.Errorf("reading %s: %w", rel, err)
	}
	m := Module{Name: name, Path: plainPath(rel), Data: StripSignature(data), Preload: r.preload}
	chain = append(chain, name)
	for _, d := range info["depends"] {
		for _, dep := range strings.Split(d, ",") {
			if dep = strings.TrimSpace(dep); dep == "" {
				continue
			}
			dep = ModName(dep)
			if err := r.visit(dep, chain); err != nil {
				return err
			}
			m.Depends = append(m.Depends, dep)
		}
	}
	// Soft dependencies ("pre: crc32c post: x") are best effort, as in
	// modprobe: a missing one is no error.
	for _, sd := range info["softdep"] {
		for _, f := range strings.Fields(sd) {
			if strings.HasSuffix(f, ":") {
				continue
			}
			dep := ModName(f)
			if _, ok := r.index[dep]; ok && r.state[dep] == 0 {
				if err := r.visit(dep, chain); err != nil {
					return err
				}
			}
		}
	}
	m.Aliases = info["alias"]
	r.state[name] = 2
	r.set.Modules = append(r.set.Modules, m)
	return nil
}

// Modinfo parses the .modinfo section of a kernel module: NUL-separated
// "key=value" strings. Keys may repeat (alias, depends on old kernels).
func Modinfo(ko []byte) (map[string][]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errors.New("no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	return parseModinfo(data), nil
}

func parseModinfo(data []byte) map[string][]string {
	info := map[string][]string{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok || k == "" {
			continue
		}
		info[k] = append(info[k], v)
	}
	return info
}

func indexModules(dir string) (map[string]string, error) {
	index := map[string]string{}
	root := filepath.Join(dir, "kernel")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isModuleFile(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		index[ModName(d.Name())] = filepath.ToSlash(rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing kernel modules: %w", err)
	}
	return index, nil
}

func isModuleFile(name string) bool {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

func plainPath(rel string) string {
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		rel = strings.TrimSuffix(rel, ext)
	}
	return rel
}

// readBuiltin reads modules.builtin ("kernel/crypto/crc32c_generic.ko" per
// line). A missing file means nothing is known to be built in.
func readBuiltin(path string) (map[string]bool, error) {
	b := map[string]bool{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			b[ModName(line)] = true
		}
	}
	return b, sc.Err()
}

// readModule returns the plain ELF of a module file. xz and zstd go
// through the host's xz and zstd commands (xz-utils and zstd), which
// keeps this package free of compression dependencies.
func readModule(path string) ([]byte, error) {
	switch {
	case strings.HasSuffix(path, ".gz"):
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("decompressing %s: %w", path, err)
		}
		return io.ReadAll(zr)
	case strings.HasSuffix(path, ".xz"), strings.HasSuffix(path, ".zst"):
		tool := "xz"
		if strings.HasSuffix(path, ".zst") {
			tool = "zstd"
		}
		out, err := exec.Command(tool, "-dc", path).Output()
		if err != nil {
			return nil, fmt.Errorf("decompressing %s with %s: %w", path, tool, err)
		}
		return out, nil
	}
	return os.ReadFile(path)
}

// ModulesDep renders modules.dep for the set, in depmod's format: each
// module followed by its transitive dependencies, the one to load first
// last, so modprobe (busybox's too) can load modules the lab did not
// preload.
func (s *ModuleSet) ModulesDep() string {
	byName := map[string]*Module{}
	pos := map[string]int{}
	for i := range s.Modules {
		byName[s.Modules[i].Name] = &s.Modules[i]
		pos[s.Modules[i].Name] = i
	}
	var b strings.Builder
	for _, m := range s.Modules {
		seen := map[string]bool{}
		var deps []string
		var walk func(string)
		walk = func(n string) {
			dm, ok := byName[n]
			if !ok || seen[n] {
				return
			}
			seen[n] = true
			deps = append(deps, n)
			for _, d := range dm.Depends {
				walk(d)
			}
		}
		for _, d := range m.Depends {
			walk(d)
		}
		// Later in load order first: the last listed is loaded first.
		sort.Slice(deps, func(i, j int) bool { return pos[deps[i]] > pos[deps[j]] })
		b.WriteString(m.Path + ":")
		for _, d := range deps {
			b.WriteString(" " + byName[d].Path)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ModulesAlias renders modules.alias ("alias PATTERN NAME") for the set.
func (s *ModuleSet) ModulesAlias() string {
	var b strings.Builder
	for _, m := range s.Modules {
		for _, a := range m.Aliases {
			fmt.Fprintf(&b, "alias %s %s\n", a, m.Name)
		}
	}
	return b.String()
}

// sigMagic ends a signed module (the kernel's MODULE_SIG_STRING).
const sigMagic = "~Module signature appended~\n"

// StripSignature returns the module without its appended signature.
// Checking an RSA signature costs tens of milliseconds per module under
// TCG; an unsigned module loads all the same (the kernel is not in
// lockdown and does not force signatures) and only sets the kernel's
// unsigned-module taint flag, which a throwaway VM does not mind.
func StripSignature(ko []byte) []byte {
	if !bytes.HasSuffix(ko, []byte(sigMagic)) {
		return ko
	}
	// struct module_signature: algo, hash, id_type, signer_len,
	// key_id_len, pad[3], sig_len (big endian) just before the magic.
	end := len(ko) - len(sigMagic)
	if end < 12 {
		return ko
	}
	ms := ko[end-12 : end]
	n := int(ms[3]) + int(ms[4]) + int(binary.BigEndian.Uint32(ms[8:12]))
	if n > end-12 {
		return ko
	}
	return ko[:end-12-n]
}

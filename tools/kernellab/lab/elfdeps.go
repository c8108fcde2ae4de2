package lab

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoLibrary is returned when a shared library a program needs is in
// none of the search roots.
var ErrNoLibrary = errors.New("shared library not found")

// LibDirs are the directories, relative to a root, where Debian's amd64
// dynamic loader looks for libraries without an ld.so.cache.
var LibDirs = []string{
	"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib",
}

// Lib is one shared object a program needs.
type Lib struct {
	Guest string // absolute path in the guest: the loader's name for it
	Host  string // the file to copy, symlinks resolved
}

// ResolveLibs returns the dynamic loader and the transitive DT_NEEDED
// libraries of the ELF programs, looked up in roots in order (an
// extracted package tree first, then "/" as a fallback), sorted by guest
// path. Static programs need nothing.
func ResolveLibs(roots []string, programs ...string) ([]Lib, error) {
	found := map[string]Lib{} // by guest path
	seen := map[string]bool{} // sonames queued
	var queue []string        // host files to scan
	queue = append(queue, programs...)
	for len(queue) > 0 {
		file := queue[0]
		queue = queue[1:]
		f, err := elf.Open(file)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		interp, needed, err := dynInfo(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		if interp != "" && !seen[interp] {
			seen[interp] = true
			host, err := findIn(roots, interp)
			if err != nil {
				return nil, fmt.Errorf("%w: loader %s of %s", ErrNoLibrary, interp, file)
			}
			found[interp] = Lib{Guest: interp, Host: host}
		}
		for _, so := range needed {
			if seen[so] {
				continue
			}
			seen[so] = true
			lib, err := findLib(roots, so)
			if err != nil {
				return nil, fmt.Errorf("%w: %s (needed by %s)", ErrNoLibrary, so, file)
			}
			found[lib.Guest] = lib
			queue = append(queue, lib.Host)
		}
	}
	libs := make([]Lib, 0, len(found))
	for _, l := range found {
		libs = append(libs, l)
	}
	sort.Slice(libs, func(i, j int) bool { return libs[i].Guest < libs[j].Guest })
	return libs, nil
}

func dynInfo(f *elf.File) (interp string, needed []string, err error) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return "", nil, err
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, err = f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		// A static binary has no dynamic section; that is fine.
		if f.Section(".dynamic") == nil {
			return interp, nil, nil
		}
		return "", nil, err
	}
	return interp, needed, nil
}

// findLib looks for a soname in LibDirs of each root. The guest path keeps
// the directory it was found in, so the loader's default search finds it.
func findLib(roots []string, soname string) (Lib, error) {
	if strings.Contains(soname, "/") {
		host, err := findIn(roots, soname)
		return Lib{Guest: soname, Host: host}, err
	}
	for _, root := range roots {
		for _, dir := range LibDirs {
			guest := "/" + path.Join(dir, soname)
			if host, err := resolveIn(root, guest); err == nil {
				return Lib{Guest: canonical(guest), Host: host}, nil
			}
		}
	}
	return Lib{}, fs.ErrNotExist
}

func findIn(roots []string, guest string) (string, error) {
	for _, root := range roots {
		if host, err := resolveIn(root, guest); err == nil {
			return host, nil
		}
	}
	return "", fs.ErrNotExist
}

// canonical maps a path to the merged-/usr layout of the image (Debian 12
// style: /bin, /sbin, /lib and /lib64 are symlinks into /usr).
func canonical(p string) string {
	p = path.Clean("/" + p)
	for _, top := range []string{"/bin", "/sbin", "/lib", "/lib64"} {
		if p == top || strings.HasPrefix(p, top+"/") {
			return "/usr" + p
		}
	}
	return p
}

// resolveIn resolves guest (an absolute path) inside the tree at root,
// following symlinks the way the guest would see them: absolute targets
// are relative to root, never to the host. It returns the host path of a
// regular file.
func resolveIn(root, guest string) (string, error) {
	cur := "/"
	rest := strings.Split(strings.Trim(path.Clean("/"+guest), "/"), "/")
	for hops := 0; len(rest) > 0; {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		st, err := os.Lstat(filepath.Join(root, filepath.FromSlash(next)))
		if err != nil {
			return "", err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many symlinks", guest)
		}
		target, err := os.Readlink(filepath.Join(root, filepath.FromSlash(next)))
		if err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			target = path.Join(cur, target)
		}
		rest = append(strings.Split(strings.Trim(path.Clean(target), "/"), "/"), rest...)
		cur = "/"
	}
	host := filepath.Join(root, filepath.FromSlash(cur))
	st, err := os.Stat(host)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", guest)
	}
	return host, nil
}

package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoKernel is returned when the package tree holds no kernel with
// modules: the cache is empty or incomplete.
var ErrNoKernel = errors.New("no kernel in the lab cache (run `make kernellab-deps`)")

// Kernel is a kernel image and its module tree in the package tree.
type Kernel struct {
	Version   string // "6.1.0-56-cloud-amd64"
	Image     string // host path of vmlinuz
	ModuleDir string // host path of lib/modules/VERSION
}

// FindKernel returns the newest kernel under root/boot that has a module
// tree under root/lib/modules.
func FindKernel(root string) (*Kernel, error) {
	images, err := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if err != nil {
		return nil, err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(images)))
	for _, img := range images {
		ver := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		for _, mods := range []string{"lib/modules", "usr/lib/modules"} {
			dir := filepath.Join(root, mods, ver)
			if st, err := os.Stat(filepath.Join(dir, "kernel")); err == nil && st.IsDir() {
				return &Kernel{Version: ver, Image: img, ModuleDir: dir}, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNoKernel, root)
}

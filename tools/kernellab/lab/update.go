package lab

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ApplyTestdata writes the regular files of a tar of "testdata/..." (as
// the guest sends it after a -update run) into dir, the package's host
// directory, and returns the slash-separated names of the files whose
// content changed. Nothing outside dir/testdata is touched, no file is
// deleted, and a file whose content is the same keeps its mtime.
func ApplyTestdata(archive []byte, dir string) ([]string, error) {
	var changed []string
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return changed, nil
		}
		if err != nil {
			return changed, fmt.Errorf("reading testdata archive: %w", err)
		}
		name := path.Clean(h.Name)
		if name != "testdata" && !strings.HasPrefix(name, "testdata/") || strings.Contains(h.Name, "..") {
			return changed, fmt.Errorf("testdata archive: refusing path %q", h.Name)
		}
		if h.Typeflag != tar.TypeReg {
			continue // directories come with their files; links stay as they are
		}
		data, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return changed, err
		}
		host := filepath.Join(dir, filepath.FromSlash(name))
		if st, err := os.Lstat(host); err == nil && !st.Mode().IsRegular() {
			return changed, fmt.Errorf("testdata archive: %s is not a regular file on the host", name)
		}
		if old, err := os.ReadFile(host); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			return changed, err
		}
		if err := os.WriteFile(host, data, 0o644); err != nil {
			return changed, err
		}
		changed = append(changed, name)
	}
}

package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// File type bits of a cpio mode (the st_mode values of Linux).
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
)

// ErrExists is returned when an archive path is added twice.
var ErrExists = errors.New("already in the archive")

// Writer writes a cpio archive in the "newc" format (magic 070701) that
// the kernel unpacks into its initramfs rootfs (see the kernel's
// Documentation/driver-api/early-userspace/buffer-format.rst). Paths are
// relative to the archive root ("usr/bin/ip"); missing parent directories
// are added first, because the kernel creates no parents. All entries are
// owned by root with mtime 0, so an archive is reproducible.
type Writer struct {
	w       *bufio.Writer
	ino     uint32
	entries map[string]uint32 // path -> file type bits, for Has and parents
	closed  bool
}

// NewWriter returns a Writer that writes to w. Close writes the trailer.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 1<<16), entries: map[string]uint32{}}
}

// Has reports whether name is already in the archive (as any type).
func (cw *Writer) Has(name string) bool {
	_, ok := cw.entries[clean(name)]
	return ok
}

// IsDir reports whether name is a directory in the archive.
func (cw *Writer) IsDir(name string) bool {
	return cw.entries[clean(name)] == modeDir
}

// Dir adds a directory (and its parents).
func (cw *Writer) Dir(name string, perm fs.FileMode) error {
	name = clean(name)
	if name == "." {
		return nil
	}
	if t, ok := cw.entries[name]; ok {
		if t == modeDir {
			return nil
		}
		return fmt.Errorf("directory %s: %w as a non-directory", name, ErrExists)
	}
	if err := cw.parents(name); err != nil {
		return err
	}
	return cw.header(name, modeDir|unixPerm(perm), 2, 0)
}

// Symlink adds a symbolic link name pointing at target.
func (cw *Writer) Symlink(name, target string) error {
	name = clean(name)
	if err := cw.newEntry(name); err != nil {
		return err
	}
	if err := cw.header(name, modeSymlink|0o777, 1, len(target)); err != nil {
		return err
	}
	return cw.body(strings.NewReader(target), int64(len(target)))
}

// File adds a regular file with the given content.
func (cw *Writer) File(name string, perm fs.FileMode, data []byte) error {
	return cw.FileFrom(name, perm, int64(len(data)), bytes.NewReader(data))
}

// FileFrom adds a regular file of size bytes read from r.
func (cw *Writer) FileFrom(name string, perm fs.FileMode, size int64, r io.Reader) error {
	name = clean(name)
	if err := cw.newEntry(name); err != nil {
		return err
	}
	if size > 0xffffffff {
		return fmt.Errorf("%s: %d bytes is too large for newc", name, size)
	}
	if err := cw.header(name, modeRegular|unixPerm(perm), 1, int(size)); err != nil {
		return err
	}
	return cw.body(r, size)
}

// CopyFile adds the host file src as name, following symlinks and keeping
// its permission bits.
func (cw *Writer) CopyFile(name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", src)
	}
	return cw.FileFrom(name, st.Mode().Perm(), st.Size(), f)
}

// Close writes the trailer and flushes. It does not close the underlying
// writer. Archives may be concatenated: the kernel reads them one after
// the other.
func (cw *Writer) Close() error {
	if cw.closed {
		return nil
	}
	if err := cw.header("TRAILER!!!", 0, 1, 0); err != nil {
		return err
	}
	cw.closed = true
	return cw.w.Flush()
}

// unixPerm maps Go's permission and special bits to st_mode's.
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func (cw *Writer) newEntry(name string) error {
	if name == "" || name == "." {
		return errors.New("empty archive path")
	}
	if _, ok := cw.entries[name]; ok {
		return fmt.Errorf("%s: %w", name, ErrExists)
	}
	return cw.parents(name)
}

func (cw *Writer) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	return cw.Dir(dir, 0o755)
}

// header writes one newc header and the NUL-terminated, padded name.
func (cw *Writer) header(name string, mode uint32, nlink uint32, size int) error {
	if cw.closed {
		return errors.New("cpio writer is closed")
	}
	ino := uint32(0)
	if name != "TRAILER!!!" {
		cw.ino++
		ino = cw.ino
		cw.entries[name] = mode & 0o170000
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize, check.
	_, err := fmt.Fprintf(cw.w, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	if err != nil {
		return err
	}
	if _, err := cw.w.WriteString(name + "\x00"); err != nil {
		return err
	}
	return cw.pad(110 + len(name) + 1)
}

func (cw *Writer) body(r io.Reader, size int64) error {
	n, err := io.CopyN(cw.w, r, size)
	if err != nil {
		return fmt.Errorf("copying %d bytes (got %d): %w", size, n, err)
	}
	return cw.pad(int(size % 4))
}

func (cw *Writer) pad(n int) error {
	if r := n % 4; r != 0 {
		_, err := cw.w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}

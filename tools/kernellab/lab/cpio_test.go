package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// entry is one parsed newc record.
type entry struct {
	Name string
	Mode uint32
	Data string
}

// readCpio parses newc archives (concatenated ones too) strictly: magic,
// hex fields, NUL-terminated names and 4-byte alignment, as the kernel's
// init/initramfs.c expects them.
func readCpio(b []byte) ([]entry, error) {
	var out []entry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for off < len(b) {
		if len(b)-off < 110 {
			return nil, fmt.Errorf("short header at %d", off)
		}
		h := string(b[off : off+110])
		if h[:6] != "070701" {
			return nil, fmt.Errorf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) (uint32, error) {
			v, err := strconv.ParseUint(h[6+8*i:14+8*i], 16, 32)
			return uint32(v), err
		}
		var f [13]uint32
		for i := range f {
			v, err := field(i)
			if err != nil {
				return nil, fmt.Errorf("field %d at %d: %v", i, off, err)
			}
			f[i] = v
		}
		mode, size, namesize := f[1], int(f[6]), int(f[11])
		if f[2] != 0 || f[3] != 0 || f[5] != 0 {
			return nil, fmt.Errorf("uid/gid/mtime not zero at %d", off)
		}
		nameEnd := off + 110 + namesize
		if namesize == 0 || nameEnd > len(b) || b[nameEnd-1] != 0 {
			return nil, fmt.Errorf("bad name at %d", off)
		}
		name := string(b[off+110 : nameEnd-1])
		dataOff := align(nameEnd)
		if dataOff+size > len(b) {
			return nil, fmt.Errorf("%s: data past the end", name)
		}
		data := string(b[dataOff : dataOff+size])
		off = align(dataOff + size)
		if name == "TRAILER!!!" {
			out = append(out, entry{Name: name})
			continue
		}
		out = append(out, entry{Name: name, Mode: mode, Data: data})
	}
	return out, nil
}

func TestWriterLayout(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.File("usr/bin/tool", 0o755, []byte("12345")))
	must(w.Symlink("bin", "usr/bin"))
	must(w.Dir("tmp", fs.ModeSticky|0o777))
	must(w.File("/etc/hosts", 0o644, nil))
	must(w.Dir("usr", 0o755)) // already there: no second entry
	must(w.Close())

	got, err := readCpio(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := []entry{
		{Name: "usr", Mode: modeDir | 0o755},
		{Name: "usr/bin", Mode: modeDir | 0o755},
		{Name: "usr/bin/tool", Mode: modeRegular | 0o755, Data: "12345"},
		{Name: "bin", Mode: modeSymlink | 0o777, Data: "usr/bin"},
		{Name: "tmp", Mode: modeDir | 0o1777},
		{Name: "etc", Mode: modeDir | 0o755},
		{Name: "etc/hosts", Mode: modeRegular | 0o644},
		{Name: "TRAILER!!!"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not 4-byte aligned", buf.Len())
	}
}

func TestWriterErrors(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.File("a/b", 0o644, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.File("a/b", 0o644, nil); !errors.Is(err, ErrExists) {
		t.Errorf("second a/b: got %v, want ErrExists", err)
	}
	if err := w.Dir("a/b", 0o755); !errors.Is(err, ErrExists) {
		t.Errorf("directory over file a/b: got %v, want ErrExists", err)
	}
	if err := w.Symlink("a", "x"); !errors.Is(err, ErrExists) {
		t.Errorf("symlink over directory a: got %v, want ErrExists", err)
	}
	if err := w.File("", 0o644, nil); err == nil {
		t.Error("empty path: no error")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.File("c", 0o644, nil); err == nil {
		t.Error("write after Close: no error")
	}
}

func TestWriterReproducible(t *testing.T) {
	build := func() []byte {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for i := 0; i < 20; i++ {
			if err := w.File(fmt.Sprintf("d%d/f%d", i%3, i), 0o600, []byte(strings.Repeat("x", i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if !bytes.Equal(build(), build()) {
		t.Error("the same input gave two different archives")
	}
}

func TestWriterConcatenated(t *testing.T) {
	var buf bytes.Buffer
	for _, name := range []string{"one", "two"} {
		w := NewWriter(&buf)
		if err := w.File(name, 0o644, []byte(name)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readCpio(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Name)
	}
	if diff := cmp.Diff([]string{"one", "TRAILER!!!", "two", "TRAILER!!!"}, names); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

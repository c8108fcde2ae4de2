package lab

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const nonce = "0123456789abcdef"

func mark(s string) string { return MarkerPrefix + nonce + " " + s }

// tarOf returns a tar with the files (name -> content) and the marker
// lines that carry it for program idx, 76 base64 characters a line as
// busybox's base64 writes them.
func tarOf(t testing.TB, idx int, files map[string]string) ([]byte, []string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"testdata/", "testdata/a.golden", "testdata/sub/b.golden", "../evil", "/etc/x"} {
		content, ok := files[name]
		if !ok {
			continue
		}
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			h = &tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	var lines []string
	for len(enc) > 0 {
		n := min(76, len(enc))
		lines = append(lines, mark(fmt.Sprintf("b64 %d %s", idx, enc[:n])))
		enc = enc[n:]
	}
	sum := sha256.Sum256(buf.Bytes())
	lines = append(lines, mark(fmt.Sprintf("sum %d %s", idx, hex.EncodeToString(sum[:]))))
	return buf.Bytes(), lines
}

func TestConsole(t *testing.T) {
	archive, lines := tarOf(t, 1, map[string]string{"testdata/": "", "testdata/a.golden": "A\n"})
	var out bytes.Buffer
	c := NewConsole(nonce, &out)
	ready := 0
	c.OnReady = func() { ready++ }
	input := []string{
		"Probing EDD (edd=off to disable)... ok\r",
		mark("init 2.94"),
		mark("modfail /lib/modules/x/kernel/foo.ko"),
		mark("ready 4.73"),
		"=== RUN   TestPrivilegedIPVSInVM",
		"[    5.1] some kernel message " + mark("result 0 0"), // printk then marker on one line
		MarkerPrefix + "ffffffffffffffff result 1 0",          // another run's nonce: plain output
		mark("result 1 3"),
	}
	input = append(input, lines...)
	input = append(input, mark("done 0"), "[    6.4] reboot: Power down")
	for _, l := range input {
		c.Line(l)
	}
	if c.Init != 2.94 || c.Ready != 4.73 || ready != 1 {
		t.Errorf("init %v ready %v (callbacks %d), want 2.94 4.73 1", c.Init, c.Ready, ready)
	}
	if diff := cmp.Diff(map[int]int{0: 0, 1: 3}, c.Results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if !bytes.Equal(c.Archives[1], archive) {
		t.Error("archive 1 did not come back intact")
	}
	if !c.Done || c.Panic != "" || len(c.Errors) != 0 {
		t.Errorf("done %v panic %q errors %v", c.Done, c.Panic, c.Errors)
	}
	if diff := cmp.Diff([]string{"/lib/modules/x/kernel/foo.ko"}, c.ModFail); diff != "" {
		t.Errorf("modfail (-want +got):\n%s", diff)
	}
	wantOut := "Probing EDD (edd=off to disable)... ok\n=== RUN   TestPrivilegedIPVSInVM\n[    5.1] some kernel message \n" +
		MarkerPrefix + "ffffffffffffffff result 1 0\n[    6.4] reboot: Power down\n"
	if diff := cmp.Diff(wantOut, out.String()); diff != "" {
		t.Errorf("console output (-want +got):\n%s", diff)
	}
}

func TestConsoleFailures(t *testing.T) {
	_, lines := tarOf(t, 0, map[string]string{"testdata/a.golden": "A\n"})
	garbled := append([]string{}, lines...)
	garbled[0] = strings.Replace(garbled[0], "b64 0 ", "b64 0 AAAA", 1)
	tests := []struct {
		name   string
		lines  []string
		panic  bool
		errors int
	}{
		{"panic", []string{"[ 3.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"}, true, 0},
		{"garbled archive", garbled, false, 1},
		{"sum without data", []string{mark("sum 4 00")}, false, 1},
		{"bad base64", []string{mark("b64 0 !!!!"), mark("sum 0 00")}, false, 1},
		{"unknown kind", []string{mark("launch missiles")}, false, 1},
		{"bad result", []string{mark("result x 1"), mark("result 1"), mark("result 1 2 3")}, false, 3},
		{"bad uptime", []string{mark("ready soon"), mark("init")}, false, 2},
		{"bare marker", []string{mark("")}, false, 1},
		{"negative index", []string{mark("b64 -1 AAAA")}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConsole(nonce, nil)
			for _, l := range tt.lines {
				c.Line(l)
			}
			if (c.Panic != "") != tt.panic {
				t.Errorf("panic = %q, want panic %v", c.Panic, tt.panic)
			}
			if len(c.Errors) != tt.errors {
				t.Errorf("errors = %q, want %d", c.Errors, tt.errors)
			}
			if len(c.Archives) != 0 || len(c.Results) != 0 || c.Done {
				t.Errorf("recorded something from bad input: archives %d results %v done %v", len(c.Archives), c.Results, c.Done)
			}
		})
	}
}

func TestFeedPartialLastLine(t *testing.T) {
	c := NewConsole(nonce, nil)
	if err := feed(strings.NewReader(mark("result 0 7")+"\n"+mark("done 0")), c); err != nil {
		t.Fatal(err)
	}
	if c.Results[0] != 7 || !c.Done {
		t.Errorf("results %v done %v", c.Results, c.Done)
	}
}

func TestApplyTestdata(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "testdata"), 0o755)
	same := filepath.Join(dir, "testdata", "a.golden")
	os.WriteFile(same, []byte("A\n"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(same, old, old)

	archive, _ := tarOf(t, 0, map[string]string{"testdata/": "", "testdata/a.golden": "A\n", "testdata/sub/b.golden": "B\n"})
	changed, err := ApplyTestdata(archive, dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"testdata/sub/b.golden"}, changed); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "testdata", "sub", "b.golden")); string(b) != "B\n" {
		t.Errorf("b.golden = %q", b)
	}
	if st, _ := os.Stat(same); !st.ModTime().Equal(old) {
		t.Error("an unchanged golden file was rewritten")
	}

	for _, name := range []string{"../evil", "/etc/x"} {
		archive, _ := tarOf(t, 0, map[string]string{name: "x"})
		if _, err := ApplyTestdata(archive, dir); err == nil {
			t.Errorf("%s: written outside testdata/", name)
		}
	}

	os.Symlink("/etc/hostname", filepath.Join(dir, "testdata", "link.golden"))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "testdata/link.golden", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	if _, err := ApplyTestdata(buf.Bytes(), dir); err == nil {
		t.Error("wrote through a symlink in testdata/")
	}
}

// FuzzConsole feeds arbitrary guest output to the parser: it must never
// panic, and a result it records must come from a marker with the nonce.
func FuzzConsole(f *testing.F) {
	_, lines := tarOf(f, 0, map[string]string{"testdata/a.golden": "A\n"})
	f.Add(strings.Join(append([]string{mark("init 1.0"), mark("ready 2.0"), mark("result 0 1")}, lines...), "\n"))
	f.Add(mark("b64 0 QUJD") + "\n" + mark("sum 0 b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78"))
	f.Add("Kernel panic - not syncing: x\n" + mark("done 0"))
	f.Fuzz(func(t *testing.T, s string) {
		c := NewConsole(nonce, nil)
		if err := feed(strings.NewReader(s), c); err != nil {
			t.Fatal(err)
		}
		if len(c.Results) > 0 && !strings.Contains(s, mark("result")) {
			t.Errorf("a result without a result marker: %v", c.Results)
		}
	})
}

package mib

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// baseMIBDir is where the IETF base modules (SNMPv2-SMI, -TC, -CONF) are
// found: $DROVER_BASE_MIBS, else the cache `make deps` fills from the npm
// package net-snmp. Debian ships none of them.
func baseMIBDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DROVER_BASE_MIBS")
	if dir == "" {
		dir = filepath.Join("..", ".cache", "mibs")
	}
	for _, m := range []string{"SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF"} {
		if findModule(dir, m) == "" {
			t.Skipf("base MIB %s not in %s (set DROVER_BASE_MIBS or run make deps)", m, dir)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// findModule returns the file in dir that holds module m, as libsmi and
// net-snmp name them, or "".
func findModule(dir, m string) string {
	for _, ext := range []string{"", ".txt", ".mib", ".my"} {
		p := filepath.Join(dir, m+ext)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed (apt-get install smitools snmp)", tool)
	}
}

// mibPath is the search path of both tools: base MIBs, the minimal
// INET-ADDRESS-MIB of testdata, and this directory.
func mibPath(t *testing.T) string {
	base := baseMIBDir(t)
	td, _ := filepath.Abs("testdata")
	here, _ := filepath.Abs(".")
	return strings.Join([]string{base, td, here}, string(os.PathListSeparator))
}

// TestMIBLint fails on any line smilint prints at level 6 (errors and
// warnings alike).
func TestMIBLint(t *testing.T) {
	need(t, "smilint")
	cmd := exec.Command("smilint", "-l", "6", "-s", "./DROVER-MIB.txt")
	// SMIPATH replaces the path of /etc/smi.conf, so modules installed on
	// the host cannot stand in for the ones we check against.
	cmd.Env = append(os.Environ(), "SMIPATH="+mibPath(t))
	out, err := cmd.CombinedOutput()
	if len(bytes.TrimSpace(out)) > 0 || err != nil {
		t.Fatalf("smilint -l 6: %v\n%s", err, out)
	}
}

// TestMIBLintCatches proves the lint is not vacuous: an object left out
// of every conformance group is reported.
func TestMIBLintCatches(t *testing.T) {
	need(t, "smilint")
	src, err := os.ReadFile("DROVER-MIB.txt")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(src), "droverVmReason,\n        droverVmLastChange\n", "droverVmReason\n", 1)
	if bad == string(src) {
		t.Fatal("mutation did not apply; update the test")
	}
	p := filepath.Join(t.TempDir(), "DROVER-MIB.txt")
	if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("smilint", "-l", "6", "-s", p)
	cmd.Env = append(os.Environ(), "SMIPATH="+mibPath(t))
	out, _ := cmd.CombinedOutput()
	if !bytes.Contains(out, []byte("droverVmLastChange")) {
		t.Fatalf("smilint did not report the ungrouped object:\n%s", out)
	}
}

// TestMIBTranslate renders the tree with net-snmp's parser, which is
// what snmpwalk and snmptrapd use, and checks key nodes are there with
// their OIDs.
func TestMIBTranslate(t *testing.T) {
	need(t, "snmptranslate")
	path := mibPath(t)
	// -m DROVER-MIB, not +DROVER-MIB: the default modules of Debian's
	// snmp.conf (IF-MIB, ...) are not installed, and any complaint
	// about them would hide ours.
	cmd := exec.Command("snmptranslate", "-M", path, "-m", "DROVER-MIB", "-Tp", ".1.3.6.1.4.1.99999")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("snmptranslate -Tp: %v\n%s", err, stderr.String())
	}
	for _, n := range []string{
		"droverMIB(99999)", "droverClusterEpoch(4)", "droverNodeTable(2)",
		"droverVipAddressTable(4)", "droverVirtualServiceTable(5)",
		"droverRealServerTable(6)", "droverCheckTable(7)",
		"droverBucketTable(8)", "droverVmTable(9)",
		"droverRealServerDown(8)", "droverServiceQuorumRegained(10)",
		"Index: droverVsIndex, droverRsAddressType, droverRsAddress, droverRsPort",
	} {
		if !bytes.Contains(out, []byte(n)) {
			t.Errorf("snmptranslate -Tp output lacks %q", n)
		}
	}
	for name, oid := range map[string]string{
		"droverNodeState":     ".1.3.6.1.4.1.99999.1.2.1.3",
		"droverRsState":       ".1.3.6.1.4.1.99999.1.6.1.7",
		"droverRsOutBytes":    ".1.3.6.1.4.1.99999.1.6.1.20",
		"droverCheckResult":   ".1.3.6.1.4.1.99999.1.7.1.4",
		"droverVipGroupMoved": ".1.3.6.1.4.1.99999.0.6",
	} {
		out, err := exec.Command("snmptranslate", "-M", path, "-m", "DROVER-MIB", "-On", "DROVER-MIB::"+name).Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != oid {
			t.Errorf("%s = %q (%v), want %s", name, got, err, oid)
		}
	}
}

// assignment matches "name KIND ... ::= { parent n }" at the end of a
// definition; the text is scanned without any tool, so this test always
// runs.
var (
	assignment = regexp.MustCompile(`::=\s*\{\s*([A-Za-z][A-Za-z0-9-]*)\s+(\d+)\s*\}`)
	descriptor = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
)

// TestMIBOIDsUnique checks, without smilint, that no two definitions share
// a parent and sub-identifier, that every parent is defined (or is
// enterprises), and that every column of a table's SEQUENCE is registered
// under its entry in order 1, 2, 3...
func TestMIBOIDsUnique(t *testing.T) {
	src, err := os.ReadFile("DROVER-MIB.txt")
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string]string{} // "parent n" -> name
	parents := map[string]bool{}
	names := map[string]bool{"enterprises": true}
	var name string
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		if f := strings.Fields(line); len(f) > 0 && line[0] != ' ' && descriptor.MatchString(f[0]) {
			name = f[0]
		}
		m := assignment.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key := m[1] + " " + m[2]
		if other, dup := defs[key]; dup {
			t.Errorf("%s and %s are both { %s }", other, name, key)
		}
		if names[name] {
			t.Errorf("%s defined twice", name)
		}
		defs[key] = name
		names[name] = true
		parents[m[1]] = true
	}
	if len(defs) < 100 {
		t.Fatalf("found only %d OID assignments; the scanner is broken", len(defs))
	}
	for p := range parents {
		if !names[p] {
			t.Errorf("parent %s is not defined", p)
		}
	}
	// SEQUENCE { a T, b T } of every entry: column i must be { entry i }.
	seq := regexp.MustCompile(`(?s)\n(Drover[A-Za-z]*Entry) ::= SEQUENCE \{(.*?)\}`)
	for _, m := range seq.FindAllStringSubmatch(string(src), -1) {
		entry := strings.ToLower(m[1][:1]) + m[1][1:]
		for i, col := range strings.Split(strings.TrimSpace(m[2]), ",") {
			f := strings.Fields(col)
			want := entry + " " + strconv.Itoa(i+1)
			if defs[want] != f[0] {
				t.Errorf("column %d of %s is %s in the SEQUENCE but { %s } is %q", i+1, entry, f[0], want, defs[want])
			}
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMIBCommand: `drover mib` prints the MIB the tests lint, byte for
// byte, and --dir writes it where net-snmp looks for MIBs.
func TestMIBCommand(t *testing.T) {
	want, err := os.ReadFile("../../mib/DROVER-MIB.txt")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := drover(t, "mib")
	if code != 0 || out != string(want) {
		t.Errorf("drover mib: exit %d, %d bytes (want %d), stderr %q", code, len(out), len(want), errOut)
	}
	dir := filepath.Join(t.TempDir(), "mibs")
	if _, errOut, code := drover(t, "mib", "--dir", dir); code != 0 {
		t.Fatalf("drover mib --dir: exit %d: %s", code, errOut)
	}
	got, err := os.ReadFile(filepath.Join(dir, "DROVER-MIB.txt"))
	if err != nil || string(got) != string(want) {
		t.Errorf("--dir wrote %d bytes, %v", len(got), err)
	}
}

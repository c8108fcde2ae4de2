// Package golden compares what a test rendered (CLI output, generated
// configuration, ipvsadm -Sn, snmpwalk) with a file under testdata/, and
// rewrites the file instead when the test binary runs with -update.
//
// Each test package defines its own -update flag (the kernel lab passes
// -update only to the packages it is asked to) and hands its value here.
package golden

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Compare fails t when got differs from the file at path, showing a
// (-want +got) diff. With update it first writes got to path.
func Compare(t testing.TB, update bool, path string, got []byte) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

package lab

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseKernelDepends(t *testing.T) {
	out := "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n  Recommends: firmware-x\n"
	if got := parseKernelDepends(out); got != "linux-image-6.1.0-56-cloud-amd64" {
		t.Errorf("parseKernelDepends = %q", got)
	}
	if got := parseKernelDepends("linux-image-cloud-amd64\n"); got != "" {
		t.Errorf("parseKernelDepends without Depends = %q", got)
	}
}

func TestDebFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"libc6_2.36-9_amd64.deb", "libc6-dev_2.36-9_amd64.deb", "ipvsadm_1%3a1.31-1_amd64.deb"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	got, err := debFiles(dir, []string{"libc6", "ipvsadm"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || filepath.Base(got[0]) != "libc6_2.36-9_amd64.deb" || filepath.Base(got[1]) != "ipvsadm_1%3a1.31-1_amd64.deb" {
		t.Errorf("debFiles = %v", got)
	}
	if _, err := debFiles(dir, []string{"dash"}); err == nil {
		t.Error("no error for a package that was not downloaded")
	}
}

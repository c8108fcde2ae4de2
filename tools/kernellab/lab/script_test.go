package lab

import (
	"flag"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/droverha/drover/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	golden.Compare(t, *update, filepath.Join("testdata", name), []byte(got))
}

func TestTestScript(t *testing.T) {
	bins := []TestBinary{
		{ImportPath: "github.com/droverha/drover/agent/ipvs", Rel: "agent/ipvs", Guest: "/kernellab/bin/0.test", HasData: true},
		{ImportPath: "github.com/droverha/drover/tools/kernellab/vmtest", Rel: "tools/kernellab/vmtest", Guest: "/kernellab/bin/1.test"},
	}
	o := TestOptions{
		Run: "TestPrivileged|Test'Quoted'", Timeout: 90 * time.Second, Verbose: true, Update: true,
		Args: []string{"-test.count=1"}, Env: []string{"GOTRACEBACK=all", "DROVER_IPVS_TESTS=0", "bad name=x"},
	}
	goldenFile(t, "test-run.sh.golden", TestScript(bins, o))
}

func TestExecScript(t *testing.T) {
	goldenFile(t, "exec-run.sh.golden", ExecScript([]string{"/usr/bin/drover", "lab", "up", "--name=a b", "it's"}, []string{"DROVER_LOG=debug"}))
}

func TestQuoteRoundTrip(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"", "plain", "a b", "it's", `"$HOME"`, "`id`", "x\ny", "-test.run=^A$|B", "*", "~root", "a\\b", "ünïcode"} {
		out, err := exec.Command(sh, "-c", "printf '%s' "+Quote(s)).Output()
		if err != nil {
			t.Errorf("sh -c for %q: %v", s, err)
			continue
		}
		if string(out) != s {
			t.Errorf("Quote(%q) came back from sh as %q", s, out)
		}
	}
}

func TestCheckEnv(t *testing.T) {
	for kv, ok := range map[string]bool{
		"A=1": true, "_X=": true, "DROVER_PRIVILEGED_TESTS=1": true, "a1=x=y": true,
		"=1": false, "1A=x": false, "A B=1": false, "NOEQUALS": false, "A-B=1": false,
	} {
		if err := CheckEnv(kv); (err == nil) != ok {
			t.Errorf("CheckEnv(%q) = %v, want ok=%v", kv, err, ok)
		}
	}
}

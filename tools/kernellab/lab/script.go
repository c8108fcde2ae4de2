package lab

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// GuestSrc is where the module's files (testdata) live in the guest, in
// the same layout as in the repository.
const GuestSrc = "/src"

// TestBinary is one package's test binary in the guest.
type TestBinary struct {
	ImportPath string
	Rel        string // package directory relative to the module root, slash-separated
	Guest      string // the binary's guest path
	HasData    bool   // the package has a testdata directory
}

// TestOptions are the go test flags passed to every binary.
type TestOptions struct {
	Run, Bench string
	Timeout    time.Duration
	Verbose    bool
	Update     bool     // -update, and send testdata back
	Args       []string // more arguments, verbatim
	Env        []string // KEY=VALUE besides the lab's own
}

// LabEnv is the environment of every program the lab runs: privileged
// tests must run, and IPVS is there.
var LabEnv = []string{"DROVER_PRIVILEGED_TESTS=1", "DROVER_IPVS_TESTS=1"}

// TestScript returns run.sh for test binaries: each runs in its package
// directory under GuestSrc, its exit status reported with a "result"
// marker; with Update, a tar of its testdata follows as base64 "b64"
// markers and a "sum" marker with its SHA-256.
func TestScript(bins []TestBinary, o TestOptions) string {
	var b strings.Builder
	b.WriteString("M=\"@@kernellab $(cat /kernellab/nonce)\"\n")
	args := testArgs(o)
	env := envPrefix(o.Env)
	for i, t := range bins {
		dir := path.Join(GuestSrc, t.Rel)
		fmt.Fprintf(&b, "mkdir -p %s && cd %s\n", Quote(dir), Quote(dir))
		fmt.Fprintf(&b, "echo %s\n", Quote("=== kernellab: "+t.ImportPath))
		fmt.Fprintf(&b, "%s%s%s </dev/null\n", env, Quote(t.Guest), args)
		fmt.Fprintf(&b, "echo \"$M result %d $?\"\n", i)
		if o.Update && t.HasData {
			fmt.Fprintf(&b, "if tar cf /tmp/testdata-%d.tar testdata; then\n", i)
			fmt.Fprintf(&b, "\tbase64 /tmp/testdata-%d.tar | sed \"s/^/$M b64 %d /\"\n", i, i)
			fmt.Fprintf(&b, "\techo \"$M sum %d $(sha256sum < /tmp/testdata-%d.tar | cut -d' ' -f1)\"\n", i, i)
			b.WriteString("fi\n")
		}
	}
	return b.String()
}

func testArgs(o TestOptions) string {
	var a []string
	if o.Verbose {
		a = append(a, "-test.v")
	}
	if o.Run != "" {
		a = append(a, "-test.run="+o.Run)
	}
	if o.Bench != "" {
		a = append(a, "-test.bench="+o.Bench)
	}
	if o.Timeout > 0 {
		a = append(a, "-test.timeout="+o.Timeout.String())
	}
	if o.Update {
		a = append(a, "-update")
	}
	a = append(a, o.Args...)
	var b strings.Builder
	for _, s := range a {
		b.WriteString(" " + Quote(s))
	}
	return b.String()
}

// ExecScript returns run.sh for one command, run from /root with the lab
// environment; its exit status is result 0.
func ExecScript(argv []string, env []string) string {
	var b strings.Builder
	b.WriteString("M=\"@@kernellab $(cat /kernellab/nonce)\"\n")
	b.WriteString("cd /root\n")
	b.WriteString(envPrefix(env))
	for i, a := range argv {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(Quote(a))
	}
	b.WriteString(" </dev/null\n")
	b.WriteString("echo \"$M result 0 $?\"\n")
	return b.String()
}

// envPrefix renders shell assignments for the command that follows. Not
// env(1): busybox's env would run its own applets (ip, sh) before PATH.
// Invalid names are dropped; CheckEnv rejects them earlier.
func envPrefix(extra []string) string {
	env := append(append([]string{}, LabEnv...), extra...)
	// Later settings win, as in env(1); keep one of each, sorted.
	m := map[string]string{}
	for _, kv := range env {
		if CheckEnv(kv) != nil {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + Quote(m[k]) + " ")
	}
	return b.String()
}

// CheckEnv checks that kv is NAME=VALUE with a shell variable name.
func CheckEnv(kv string) error {
	k, _, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want NAME=VALUE", kv)
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return fmt.Errorf("%q: %q is not a variable name", kv, k)
		}
	}
	return nil
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

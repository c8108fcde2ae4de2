package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/droverha/drover/cim"
)

// runCmd runs the drover command in this process.
func runCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

// TestCIMPasswd: the printed line parses as a users file line whose hash
// (cost 12) matches the password read from stdin.
func TestCIMPasswd(t *testing.T) {
	out, _, err := runCmd(t, "s3cret pass\r\nignored\n", "cim", "passwd", "--user", "alice", "--role", "Operator")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(out, "\n")
	u, err := cim.ParseUsers(strings.NewReader(line), "out")
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	if r, ok := u.Role("alice"); !ok || r != cim.RoleOperator {
		t.Errorf("role %v %v", r, ok)
	}
	hash := strings.TrimPrefix(line, "alice:operator:")
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != 12 {
		t.Errorf("cost %d, %v", cost, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret pass")) != nil {
		t.Error("the hash is not of the password")
	}

	out, _, err = runCmd(t, "pw\n", "cim", "passwd")
	if err != nil || !strings.HasPrefix(out, "$2a$12$") || strings.Count(out, "\n") != 1 {
		t.Errorf("hash alone: %q, %v", out, err)
	}
}

func TestCIMPasswdToken(t *testing.T) {
	out, errOut, err := runCmd(t, "", "cim", "passwd", "--token", "--user", "prom")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(errOut, "shown only now") {
		t.Fatalf("stdout %q, stderr %q", out, errOut)
	}
	sum := sha256.Sum256([]byte(lines[0]))
	if want := "prom:viewer:token-sha256:" + hex.EncodeToString(sum[:]); lines[1] != want {
		t.Errorf("line %q, want %q", lines[1], want)
	}
	if _, err := cim.ParseUsers(strings.NewReader(lines[1]), "out"); err != nil {
		t.Error(err)
	}
}

func TestCIMPasswdErrors(t *testing.T) {
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"\n", nil, "cim passwd: empty password"},
		{strings.Repeat("x", 73), nil, "cim passwd: the password is longer than 72 bytes, which bcrypt cannot hash"},
		{"pw\n", []string{"--role", "root"}, `cim passwd: --role: unknown role "root": use viewer, operator or admin`},
		{"pw\n", []string{"--user", "a b"}, `cim passwd: user name "a b" holds white space or a control character`},
	} {
		_, _, err := runCmd(t, tc.stdin, append([]string{"cim", "passwd"}, tc.args...)...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

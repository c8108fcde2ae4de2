package cim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

// testHash hashes at bcrypt's least cost, so the tests run quickly; the
// cost is the hash's own, so checking works the same.
func testHash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func tokenCred(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenPrefix + hex.EncodeToString(sum[:])
}

// testUsersFile is a users file with one user of each role, each with a
// password "<name>-pw"; the operator also has a token.
func testUsersFile(t testing.TB) string {
	return strings.Join([]string{
		"# test users",
		"viewer:viewer:" + testHash(t, "viewer-pw"),
		"operator:operator:" + testHash(t, "operator-pw"),
		"   ",
		"operator:operator:" + tokenCred("operator-token"),
		"admin:ADMIN:" + testHash(t, "admin-pw"),
		"probe:viewer:cert",
		"",
	}, "\n")
}

func TestUsersParse(t *testing.T) {
	u, err := ParseUsers(strings.NewReader(testUsersFile(t)), "users")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range []string{"viewer", "operator", "admin", "probe", "nobody"} {
		if r, ok := u.Role(n); ok {
			got[n] = RoleName(r)
		}
	}
	want := map[string]string{"viewer": "viewer", "operator": "operator", "admin": "admin", "probe": "viewer"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if u.Len() != 4 {
		t.Errorf("Len = %d, want 4", u.Len())
	}
	if !u.checkPassword("admin", "admin-pw") || u.checkPassword("admin", "viewer-pw") {
		t.Error("admin's password is not checked right")
	}
	if n, ok := u.tokenUser("operator-token"); !ok || n != "operator" {
		t.Errorf("tokenUser = %q, %v", n, ok)
	}
	if _, ok := u.tokenUser("operator-token2"); ok {
		t.Error("a wrong token was taken")
	}
}

func TestUsersFileErrors(t *testing.T) {
	good := testHash(t, "x")
	in := strings.Join([]string{
		"# comment",
		"alice",                         // 2
		"bob:boss:" + good,              // 3
		"carol:viewer:plain-password",   // 4
		"dave:viewer:$2b$12$tooshort",   // 5
		"erin:viewer:token-sha256:abcd", // 6
		"frank:viewer:",                 // 7
		":viewer:" + good,               // 8
		"gus:viewer:" + good,            // 9
		"gus:admin:cert",                // 10
		"gus:viewer:" + good,            // 11
		"h i:viewer:cert",               // 12
		"ivy:viewer:" + tokenCred("t"),  // 13
		"jon:viewer:" + tokenCred("t"),  // 14
	}, "\n")
	_, err := ParseUsers(strings.NewReader(in), "/etc/drover/users")
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`/etc/drover/users:2: expected name:role:credential`,
		`/etc/drover/users:3: user "bob": unknown role "boss": use viewer, operator or admin`,
		`/etc/drover/users:4: user "carol": credential is neither a bcrypt hash ($2a$, $2b$, $2y$), token-sha256:HEX nor cert`,
		`/etc/drover/users:5: user "dave": not a valid bcrypt hash`,
		`/etc/drover/users:6: user "erin": token-sha256: needs 64 hexadecimal digits`,
		`/etc/drover/users:7: user "frank" has no credential`,
		`/etc/drover/users:8: empty user name`,
		`/etc/drover/users:10: user "gus" has role admin here but viewer on line 9`,
		`/etc/drover/users:11: user "gus" already has a password`,
		`/etc/drover/users:12: user name "h i" holds white space or a control character`,
		`/etc/drover/users:14: user "jon": the same token as line 13`,
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestUsersNewTokenAndHash(t *testing.T) {
	tok, cred, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUsers(strings.NewReader("bot:operator:"+cred+"\n"), "users")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := u.tokenUser(tok); !ok || n != "bot" {
		t.Errorf("the new token is not found: %q %v", n, ok)
	}
	if !strings.HasPrefix(tok, "drv_") || len(tok) != 4+43 {
		t.Errorf("token %q", tok)
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestAuth(t *testing.T) (*authenticator, *fakeClock, map[string]int, http.Handler) {
	u, err := ParseUsers(strings.NewReader(testUsersFile(t)), "users")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	failures := map[string]int{}
	var mu sync.Mutex
	a := newAuthenticator(func() *Users { return u }, clock.now, func(s string) { mu.Lock(); failures[s]++; mu.Unlock() })
	h := a.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			t.Error("no principal")
		}
		fmt.Fprintf(w, "%s %s %s", p.User, RoleName(p.Role), p.Source)
	}))
	return a, clock, failures, h
}

func TestAuthMiddleware(t *testing.T) {
	_, _, failures, h := newTestAuth(t)
	for _, tc := range []struct {
		name       string
		set        func(r *http.Request)
		wantStatus int
		wantBody   string
	}{
		{"none", func(r *http.Request) {}, 401, failureMessage + "\n"},
		{"basic viewer", func(r *http.Request) { r.SetBasicAuth("viewer", "viewer-pw") }, 200, "viewer viewer 192.0.2.7:4000"},
		{"basic admin", func(r *http.Request) { r.SetBasicAuth("admin", "admin-pw") }, 200, "admin admin 192.0.2.7:4000"},
		{"basic admin again (cached)", func(r *http.Request) { r.SetBasicAuth("admin", "admin-pw") }, 200, "admin admin 192.0.2.7:4000"},
		{"basic wrong password", func(r *http.Request) { r.SetBasicAuth("admin", "viewer-pw") }, 401, failureMessage + "\n"},
		{"basic token-only user", func(r *http.Request) { r.SetBasicAuth("probe", "") }, 401, failureMessage + "\n"},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer operator-token") }, 200, "operator operator 192.0.2.7:4000"},
		{"bearer lower case", func(r *http.Request) { r.Header.Set("Authorization", "bearer operator-token") }, 200, "operator operator 192.0.2.7:4000"},
		{"bearer wrong", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, 401, failureMessage + "\n"},
		{"bearer password", func(r *http.Request) { r.Header.Set("Authorization", "Bearer admin-pw") }, 401, failureMessage + "\n"},
		{"other scheme", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, 401, failureMessage + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/cim/v1/classes", nil)
			r.RemoteAddr = "192.0.2.7:4000"
			tc.set(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantStatus || w.Body.String() != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tc.wantStatus, tc.wantBody)
			}
			if w.Code == 401 && w.Header().Get("WWW-Authenticate") != authRealm {
				t.Errorf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
	if diff := cmp.Diff(map[string]int{"basic": 2, "bearer": 2, "other": 1}, failures); diff != "" {
		t.Errorf("failures counted (-want +got):\n%s", diff)
	}
}

// TestAuthBackoff: after five failures in a row a source is held off,
// the hold-off doubling, and other sources are not; success resets it.
func TestAuthBackoff(t *testing.T) {
	_, clock, _, h := newTestAuth(t)
	try := func(source, pass string) int {
		r := httptest.NewRequest("GET", "/cim/v1/classes", nil)
		r.RemoteAddr = source
		r.SetBasicAuth("viewer", pass)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := range freeFailures {
		if code := try("192.0.2.8:1", "wrong"); code != 401 {
			t.Fatalf("failure %d: %d", i+1, code)
		}
	}
	if code := try("192.0.2.8:2", "viewer-pw"); code != 429 {
		t.Errorf("held off, right password: %d, want 429", code)
	}
	if code := try("192.0.2.9:1", "viewer-pw"); code != 200 {
		t.Errorf("another source: %d, want 200", code)
	}
	clock.add(time.Second)
	if code := try("192.0.2.8:1", "wrong"); code != 401 {
		t.Errorf("after the hold-off, wrong: %d, want 401", code)
	}
	clock.add(time.Second) // the second hold-off is 2 s
	if code := try("192.0.2.8:1", "viewer-pw"); code != 429 {
		t.Errorf("within the doubled hold-off: %d, want 429", code)
	}
	clock.add(time.Second)
	if code := try("192.0.2.8:1", "viewer-pw"); code != 200 {
		t.Errorf("after it: %d, want 200", code)
	}
	if code := try("192.0.2.8:1", "wrong"); code != 401 {
		t.Errorf("after a success the count starts again: %d, want 401", code)
	}
}

// TestAuthBackoffPerUser: a source that holds a viewer's password cannot
// use it to clear the count of its guesses at another user's password.
func TestAuthBackoffPerUser(t *testing.T) {
	_, _, _, h := newTestAuth(t)
	try := func(user, pass string) int {
		r := httptest.NewRequest("GET", "/cim/v1/classes", nil)
		r.RemoteAddr = "192.0.2.8:1"
		r.SetBasicAuth(user, pass)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := range freeFailures {
		if code := try("admin", "guess"); code != 401 {
			t.Fatalf("guess %d: %d", i+1, code)
		}
		if code := try("viewer", "viewer-pw"); code != 200 {
			t.Fatalf("the viewer's own login after guess %d: %d", i+1, code)
		}
	}
	if code := try("admin", "guess"); code != 429 {
		t.Errorf("guessing on after %d failures, with good viewer logins between: %d, want 429", freeFailures, code)
	}
}

package cim

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// The users file (docs/security.md) has one credential a line:
//
//	# comment
//	alice:admin:$2b$12$...                 a bcrypt hash of a password (HTTP Basic)
//	prom:viewer:token-sha256:<64 hex>      the SHA-256 of an API token (Bearer)
//	nagios:viewer:cert                     a client certificate whose CN is nagios
//
// A user may have several lines (a password and a token, say), all with
// the same role. Names are 1 to 64 characters without ':', white space or
// control characters. Roles are viewer, operator and admin.

// Credential kinds of the users file.
const (
	tokenPrefix = "token-sha256:"
	certOnly    = "cert"
)

// PasswordCost is the bcrypt cost `drover cim passwd` hashes with.
const PasswordCost = 12

// maxUserName bounds a user name, which also appears in audit lines.
const maxUserName = 64

// ParseRole reads viewer, operator or admin (any case).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(s) {
	case "viewer":
		return RoleViewer, nil
	case "operator":
		return RoleOperator, nil
	case "admin":
		return RoleAdmin, nil
	}
	return 0, fmt.Errorf("unknown role %q: use viewer, operator or admin", s)
}

// RoleName is the users file's word for r.
func RoleName(r Role) string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Users is a parsed users file. It is never changed after parsing;
// reloading makes a new one.
type Users struct {
	roles     map[string]Role
	passwords map[string][]byte // bcrypt hashes by user
	tokens    []tokenUser       // every token, searched in full
	certs     map[string]bool   // users who may log in with a client certificate
	// dummy is a hash of nothing anyone knows, at the cost of the file's
	// hashes, checked for unknown users so that an unknown name costs as
	// long as a wrong password.
	dummy func() []byte
}

type tokenUser struct {
	sum  [sha256.Size]byte
	user string
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.roles) }

// Role gives a user's role.
func (u *Users) Role(name string) (Role, bool) {
	r, ok := u.roles[name]
	return r, ok
}

// LoadUsers reads and parses the users file at path.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	return ParseUsers(f, path)
}

// ParseUsers parses a users file; errors start with "name:line:".
func ParseUsers(r io.Reader, name string) (*Users, error) {
	u := &Users{roles: map[string]Role{}, passwords: map[string][]byte{}, certs: map[string]bool{}}
	firstLine := map[string]int{}
	tokenLine := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, rest, ok1 := strings.Cut(line, ":")
		roleWord, cred, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			bad(n, "expected name:role:credential")
			continue
		}
		if reason := userNameProblem(user); reason != "" {
			bad(n, "%s", reason)
			continue
		}
		role, err := ParseRole(roleWord)
		if err != nil {
			bad(n, "user %q: %v", user, err)
			continue
		}
		if prev, seen := u.roles[user]; seen && prev != role {
			bad(n, "user %q has role %s here but %s on line %d", user, RoleName(role), RoleName(prev), firstLine[user])
			continue
		}
		switch {
		case strings.HasPrefix(cred, "$2a$") || strings.HasPrefix(cred, "$2b$") || strings.HasPrefix(cred, "$2y$"):
			if _, err := bcrypt.Cost([]byte(cred)); err != nil {
				bad(n, "user %q: not a valid bcrypt hash", user)
				continue
			}
			if _, dup := u.passwords[user]; dup {
				bad(n, "user %q already has a password", user)
				continue
			}
			u.passwords[user] = []byte(cred)
		case strings.HasPrefix(cred, tokenPrefix):
			h := strings.TrimPrefix(cred, tokenPrefix)
			b, err := hex.DecodeString(h)
			if err != nil || len(b) != sha256.Size {
				bad(n, "user %q: token-sha256: needs 64 hexadecimal digits", user)
				continue
			}
			var sum [sha256.Size]byte
			copy(sum[:], b)
			if l, dup := tokenLine[sum]; dup {
				bad(n, "user %q: the same token as line %d", user, l)
				continue
			}
			tokenLine[sum] = n
			u.tokens = append(u.tokens, tokenUser{sum, user})
		case cred == certOnly:
			u.certs[user] = true
		case cred == "":
			bad(n, "user %q has no credential", user)
			continue
		default:
			bad(n, "user %q: credential is neither a bcrypt hash ($2a$, $2b$, $2y$), token-sha256:HEX nor cert", user)
			continue
		}
		if _, seen := u.roles[user]; !seen {
			u.roles[user], firstLine[user] = role, n
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cost := PasswordCost
	for _, h := range u.passwords {
		cost, _ = bcrypt.Cost(h)
		break
	}
	u.dummy = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
		return h
	})
	return u, nil
}

func userNameProblem(name string) string {
	switch {
	case name == "":
		return "empty user name"
	case len(name) > maxUserName:
		return fmt.Sprintf("user name is longer than %d bytes", maxUserName)
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Sprintf("user name %q holds white space or a control character", name)
	}
	return ""
}

// HashPassword is the users file's credential for a password.
func HashPassword(password []byte) (string, error) {
	h, err := bcrypt.GenerateFromPassword(password, PasswordCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// NewToken makes a random API token (256 bits, base64url) and its users
// file credential, token-sha256:HEX. Only the hash is kept on the server.
func NewToken() (token, credential string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "drv_" + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	return token, tokenPrefix + hex.EncodeToString(sum[:]), nil
}

// checkPassword is constant-time in the password (bcrypt compares in
// constant time).
func (u *Users) checkPassword(user, password string) bool {
	h, ok := u.passwords[user]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(u.dummy(), []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
}

// tokenUser finds the user of a bearer token, comparing its hash with
// every token's in constant time.
func (u *Users) tokenUser(token string) (string, bool) {
	sum := sha256.Sum256([]byte(token))
	found := ""
	for _, t := range u.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found = t.user
		}
	}
	return found, found != ""
}

// authenticator checks the credentials of each request against the users
// file. Successful Basic logins are cached for a while under a hash of
// name and password, because bcrypt costs about a quarter of a second and
// CIM-XML clients send Basic credentials with every request.
type authenticator struct {
	users    func() *Users
	now      func() time.Time
	failures func(method string) // counts bad credentials

	mu      sync.Mutex // guards cache and sources
	cache   map[[sha256.Size]byte]time.Time
	sources map[string]*backoff
}

// backoff is a source's run of failed logins.
type backoff struct {
	failures int
	until    time.Time // refused without a check until then
	last     time.Time
}

const (
	basicCacheTTL  = 5 * time.Minute
	maxCache       = 4096
	freeFailures   = 5                // failures allowed before a source is held off
	maxHoldOff     = 60 * time.Second // the longest hold-off
	forgetSource   = 15 * time.Minute // a source quiet this long starts afresh
	maxSources     = 10000
	authRealm      = `Basic realm="drover", charset="UTF-8"`
	failureMessage = "authentication required"
)

func newAuthenticator(users func() *Users, now func() time.Time, failures func(string)) *authenticator {
	return &authenticator{users: users, now: now, failures: failures,
		cache: map[[sha256.Size]byte]time.Time{}, sources: map[string]*backoff{}}
}

// errHeldOff says a source failed too often and must wait.
var errHeldOff = errors.New("too many failed logins")

// authenticate finds the principal of r. ok is false when r carries no
// usable credentials; err is errHeldOff when the source must wait.
func (a *authenticator) authenticate(r *http.Request) (p Principal, ok bool, err error) {
	users := a.users()
	source := sourceHost(r.RemoteAddr)
	p.Source = r.RemoteAddr
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		cn := r.TLS.PeerCertificates[0].Subject.CommonName
		if role, known := users.roles[cn]; known {
			p.User, p.Role = cn, role
			return p, true, nil
		}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return p, false, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	// The backoff counts a source's failures per claimed user (per scheme
	// for tokens), and a success clears only its own count: holding one
	// credential must not let a source guess another's password freely.
	key := source + "|" + strings.ToLower(scheme)
	if name, _, good := r.BasicAuth(); good {
		key += "|" + name
	}
	if wait := a.heldOff(key); wait > 0 {
		return p, false, errHeldOff
	}
	var user, method string
	switch {
	case strings.EqualFold(scheme, "Basic"):
		method = "basic"
		name, pass, good := r.BasicAuth()
		if good && a.basic(users, name, pass) {
			user = name
		}
	case strings.EqualFold(scheme, "Bearer"):
		method = "bearer"
		user, _ = users.tokenUser(cred)
	default:
		method = "other"
	}
	if user == "" {
		a.failed(key)
		a.failures(method)
		return p, false, nil
	}
	a.succeeded(key)
	p.User, p.Role = user, users.roles[user]
	return p, true, nil
}

func (a *authenticator) basic(users *Users, name, pass string) bool {
	if _, has := users.passwords[name]; !has {
		users.checkPassword(name, pass) // the same work as a wrong password
		return false
	}
	key := sha256.Sum256(bytes.Join([][]byte{[]byte(name), []byte(pass), users.passwords[name]}, []byte{0}))
	now := a.now()
	a.mu.Lock()
	exp, hit := a.cache[key]
	a.mu.Unlock()
	if hit && now.Before(exp) {
		return true
	}
	if !users.checkPassword(name, pass) {
		return false
	}
	a.mu.Lock()
	if len(a.cache) >= maxCache {
		clear(a.cache)
	}
	a.cache[key] = now.Add(basicCacheTTL)
	a.mu.Unlock()
	return true
}

// heldOff is how long source must still wait.
func (a *authenticator) heldOff(source string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.sources[source]
	if b == nil {
		return 0
	}
	return max(b.until.Sub(a.now()), 0)
}

// failed counts a failure of source: after freeFailures in a row it is
// held off for 1 s, doubling with each further failure up to maxHoldOff.
func (a *authenticator) failed(source string) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.sources[source]
	if b == nil || now.Sub(b.last) > forgetSource {
		if len(a.sources) >= maxSources {
			a.pruneLocked(now)
		}
		b = &backoff{}
		a.sources[source] = b
	}
	b.failures++
	b.last = now
	if extra := b.failures - freeFailures; extra >= 0 {
		wait := maxHoldOff
		if extra < 6 {
			wait = min(time.Second<<extra, maxHoldOff)
		}
		b.until = now.Add(wait)
	}
}

func (a *authenticator) succeeded(source string) {
	a.mu.Lock()
	delete(a.sources, source)
	a.mu.Unlock()
}

// pruneLocked forgets quiet sources, or all when none is quiet.
func (a *authenticator) pruneLocked(now time.Time) {
	for s, b := range a.sources {
		if now.Sub(b.last) > forgetSource {
			delete(a.sources, s)
		}
	}
	if len(a.sources) >= maxSources {
		clear(a.sources)
	}
}

// sourceHost is the host of a remote address, which with the claimed
// user is the unit of the backoff.
func sourceHost(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// middleware puts the principal of each request in its context, or
// answers 401 (no or bad credentials) or 429 (a source held off).
func (a *authenticator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok, err := a.authenticate(r)
		if errors.Is(err, errHeldOff) {
			w.Header().Set("Retry-After", fmt.Sprint(int(a.heldOff(sourceHost(r.RemoteAddr)).Seconds())+1))
			http.Error(w, "too many failed logins; try again later", http.StatusTooManyRequests)
			return
		}
		if !ok || p.Role < RoleViewer {
			w.Header().Set("WWW-Authenticate", authRealm)
			http.Error(w, failureMessage, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/droverha/drover/model"
)

// Problem is one thing wrong with the configuration. Source is where the
// value came from: "FILE:LINE" (YAML), "FILE" (TOML, JSON), "env DROVER_X",
// "flag --x" or "default".
type Problem struct {
	Source, Key, Reason string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Source + ": " + p.Reason
	}
	return p.Source + ": " + p.Key + ": " + p.Reason
}

// Problems is every problem Load found, one per line. The CLI prints them
// and exits 2.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problem is a Problem with what orders it: the file's lines top to
// bottom, then the environment, flags and defaults, each in settings order.
type problem struct {
	Problem
	kind    originKind
	line    int
	setting int // index in settings, so that problems follow docs/config.md
}

// add reports a problem with key, which may name a list item ("[1]") or
// its field. Later checks skip keys already reported.
func (l *loader) add(key, reason string) {
	l.bad[key] = true
	top, _, _ := strings.Cut(key, "[")
	o, ok := l.origins[top]
	if !ok && !isSetting(top) {
		o.kind = fromFile // only a file has keys that are not settings
	}
	p := problem{
		Problem: Problem{Key: displayKey(key), Reason: reason},
		kind:    o.kind,
		setting: slices.IndexFunc(settings, func(s setting) bool { return s.key == top }),
	}
	switch o.kind {
	case fromFile:
		p.line = l.lineOf(key)
		p.Source = l.file
		if p.line > 0 {
			p.Source += ":" + strconv.Itoa(p.line)
		}
	case fromEnv:
		p.Source = "env " + o.name
	case fromFlag:
		p.Source = "flag " + o.name
	default:
		p.Source = "default"
	}
	l.problems = append(l.problems, p)
}

func (l *loader) sorted() Problems {
	slices.SortStableFunc(l.problems, func(a, b problem) int {
		return cmp.Or(cmp.Compare(rank(a.kind), rank(b.kind)), cmp.Compare(a.line, b.line), cmp.Compare(a.setting, b.setting))
	})
	ps := make(Problems, len(l.problems))
	for i, p := range l.problems {
		ps[i] = p.Problem
	}
	return ps
}

// rank puts defaults last; the others sort as declared.
func rank(k originKind) int {
	if k == fromDefault {
		return int(fromFlag) + 1
	}
	return int(k)
}

// displayKey quotes a key from a file that would not read as one word.
func displayKey(key string) string {
	if key == "" || strings.ContainsFunc(key, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) {
		return strconv.Quote(key)
	}
	return key
}

// nearest finds the known key an unknown one was probably meant to be:
// one within two edits of it, or, when elsewhere is set, the single
// setting of that name in another section. It gives the full key, or "".
func nearest(prefix, unknown string, known []string, elsewhere bool) string {
	best, bestDist := "", 3
	if len(unknown) <= 64 {
		for _, k := range known {
			if d := distance(unknown, k); d < bestDist {
				best, bestDist = join(prefix, k), d
			}
		}
	}
	if best == "" && elsewhere {
		for _, s := range settings {
			if s.key == unknown || strings.HasSuffix(s.key, "."+unknown) {
				if best != "" {
					return ""
				}
				best = s.key
			}
		}
	}
	return best
}

// unknownKey is the reason for an unknown key, with a suggestion.
func unknownKey(suggestion string) string {
	if suggestion == "" {
		return "unknown key"
	}
	return "unknown key; did you mean " + suggestion + "?"
}

// distance is the optimal string alignment distance: edits, with a swap
// of neighbours counting as one.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// nameRule says in words what model.ValidName accepts: node, cluster and
// peer names become NATS subject tokens and KV keys.
const nameRule = "use 1 to 63 letters, digits, '-' or '_', starting with a letter or digit"

func (l *loader) validate(c *Config) {
	l.checkName("node", c.Node)
	l.checkName("cluster", c.Cluster)
	if !l.bad["data_dir"] && !filepath.IsAbs(c.DataDir) {
		l.add("data_dir", fmt.Sprintf("%q is not an absolute path", c.DataDir))
	}
	c.Log.Level = l.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	c.Log.Format = l.oneOf("log.format", c.Log.Format, "text", "json")
	l.validateCluster(c)
	nodes := l.validatePeers(c)
	l.validateExternal(c)
	l.validateTimes(c)
	l.validateUDP(c)
	l.validateVIPGroups(c, nodes)
	l.validateServices(c)
	l.validateSNMP(c)
	l.validateCIM(c)
	l.checkNameHashes(c) // last: it leaves out names found wrong before
}

func (l *loader) checkName(key, name string) {
	if !l.bad[key] && !model.ValidName(name) {
		l.add(key, fmt.Sprintf("%q is not a valid name: %s", name, nameRule))
	}
}

// oneOf checks a word case-insensitively and returns it as words has it.
func (l *loader) oneOf(key, val string, words ...string) string {
	if l.bad[key] {
		return val
	}
	if i := slices.IndexFunc(words, func(w string) bool { return strings.EqualFold(w, val) }); i >= 0 {
		return words[i]
	}
	l.add(key, fmt.Sprintf("%q is not one of %s", val, strings.Join(words, ", ")))
	return val
}

func (l *loader) validateCluster(c *Config) {
	l.checkAddr("bus.listen", c.Bus.Listen, true)
	bc := c.Bus.Cluster
	if bc.Listen != "" {
		l.checkAddr("bus.cluster.listen", bc.Listen, true)
	}
	if bc.Advertise != "" {
		l.checkAddr("bus.cluster.advertise", bc.Advertise, false)
		if bc.Listen == "" && !l.bad["bus.cluster.listen"] {
			l.add("bus.cluster.advertise", "needs bus.cluster.listen, the address it advertises")
		}
	}
}

func (l *loader) checkAddr(key, addr string, wildcard bool) {
	if l.bad[key] {
		return
	}
	if reason := addrProblem(addr, wildcard); reason != "" {
		l.add(key, reason)
	}
}

// addrProblem checks host:port. A listener may leave the host out or use
// a wildcard; an address others dial may not.
func addrProblem(addr string, wildcard bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if !validPort(port) {
		return fmt.Sprintf("%q: port must be 1..65535", addr)
	}
	if host == "" {
		if wildcard {
			return ""
		}
		return fmt.Sprintf("%q needs a host", addr)
	}
	return hostProblem(addr, host, wildcard)
}

func hostProblem(addr, host string, wildcard bool) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.IsUnspecified() && !wildcard {
			return fmt.Sprintf("%q: %s is not an address others can dial", addr, host)
		}
		return ""
	}
	if !isDNSName(host) {
		return fmt.Sprintf("%q: %q is neither an IP address nor a DNS name", addr, host)
	}
	return ""
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && port[0] != '+' && port[0] != '-' && n >= 1 && n <= 65535
}

// isDNSName checks a hostname as RFC 1123 has it. A name whose last label
// is all digits is refused, so that 192.0.2.300 is not taken for a name.
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			if ch := label[i]; !isNameByte(ch) || ch == '_' {
				return false
			}
		}
	}
	_, err := strconv.Atoi(labels[len(labels)-1])
	return err != nil
}

// normaliseRoute accepts host:port, nats-route://host:port or
// nats://host:port and returns nats-route://host:port with the host in
// canonical form, so that duplicates are found.
func normaliseRoute(route string) (string, string) {
	hostport := route
	if scheme, rest, ok := strings.Cut(route, "://"); ok {
		if scheme != "nats-route" && scheme != "nats" {
			return "", fmt.Sprintf("%q: scheme must be nats-route:// or nats://", route)
		}
		hostport = rest
	}
	if reason := addrProblem(hostport, false); reason != "" {
		return "", reason
	}
	return "nats-route://" + canonicalAddr(hostport), ""
}

// canonicalAddr writes a valid host:port that others dial in one way, so
// that duplicates are found.
func canonicalAddr(hostport string) string {
	host, port, _ := net.SplitHostPort(hostport)
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	} else {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
	}
	return net.JoinHostPort(host, port)
}

// validatePeers checks the voters and gives their names, or nil when the
// set of nodes is unknown: no peers, or some without a valid name.
func (l *loader) validatePeers(c *Config) map[string]int {
	const key = "bus.cluster.peers"
	peers := c.Bus.Cluster.Peers
	if len(peers) == 0 || l.bad[key] {
		return nil
	}
	names, routes := map[string]int{}, map[string]int{}
	allNamed := true
	for i := range peers {
		p, item := &peers[i], fmt.Sprintf("%s[%d]", key, i)
		switch {
		case l.bad[item] || l.bad[item+".name"]:
			allNamed = false
		case p.Name == "":
			l.add(item+".name", "missing")
			allNamed = false
		case !model.ValidName(p.Name):
			l.add(item+".name", fmt.Sprintf("%q is not a valid name: %s", p.Name, nameRule))
			allNamed = false
		default:
			if j, dup := names[p.Name]; dup {
				l.add(item+".name", fmt.Sprintf("%q is already the name of %s[%d]", p.Name, key, j))
			} else {
				names[p.Name] = i
			}
		}
		switch {
		case l.bad[item] || l.bad[item+".route"]:
		case p.Route == "":
			l.add(item+".route", "missing")
		default:
			route, reason := normaliseRoute(p.Route)
			if reason != "" {
				l.add(item+".route", reason)
				break
			}
			p.Route = route
			if j, dup := routes[route]; dup {
				l.add(item+".route", fmt.Sprintf("%s is already the route of %s[%d]", route, key, j))
			} else {
				routes[route] = i
			}
		}
	}
	if _, ok := names[c.Node]; allNamed && !ok && !l.bad["node"] {
		l.add(key, fmt.Sprintf("this node (%q) is not among the peers; list every voter, this one included", c.Node))
	}
	switch n := len(peers); {
	case n == 2:
		l.add(key, "2 peers cannot keep a majority when one fails; add a third voter (a witness)")
	case n > 7:
		l.add(key, fmt.Sprintf("%d peers: drover supports at most 7 voters (JetStream Raft groups above that are not supported)", n))
	}
	if c.Bus.Cluster.Listen == "" && !l.bad["bus.cluster.listen"] {
		l.add(key, "needs bus.cluster.listen, where the other peers' routes connect")
	}
	if !allNamed {
		return nil
	}
	return names
}

// validateUDP checks the direct heartbeats: where they arrive and the
// other nodes they go to.
func (l *loader) validateUDP(c *Config) {
	const key = "heartbeat.udp.peers"
	u := &c.Heartbeat.UDP
	if u.Listen != "" {
		l.checkAddr("heartbeat.udp.listen", u.Listen, true)
	}
	if len(u.Peers) == 0 || l.bad[key] {
		return
	}
	names, addrs := map[string]int{}, map[string]int{}
	for i := range u.Peers {
		p, item := &u.Peers[i], fmt.Sprintf("%s[%d]", key, i)
		if l.bad[item] {
			continue
		}
		switch {
		case l.bad[item+".name"]:
		case p.Name == "":
			l.add(item+".name", "missing")
		case !model.ValidName(p.Name):
			l.add(item+".name", fmt.Sprintf("%q is not a valid name: %s", p.Name, nameRule))
		case p.Name == c.Node && !l.bad["node"]:
			l.add(item+".name", fmt.Sprintf("%q is this node; list only the others", p.Name))
		default:
			if j, dup := names[p.Name]; dup {
				l.add(item+".name", fmt.Sprintf("%q is already the name of %s[%d]", p.Name, key, j))
			} else {
				names[p.Name] = i
			}
		}
		switch {
		case l.bad[item+".addr"]:
		case p.Addr == "":
			l.add(item+".addr", "missing")
		default:
			if reason := addrProblem(p.Addr, false); reason != "" {
				l.add(item+".addr", reason)
				break
			}
			addr := canonicalAddr(p.Addr)
			if j, dup := addrs[addr]; dup {
				l.add(item+".addr", fmt.Sprintf("%s is already the addr of %s[%d]", addr, key, j))
			} else {
				addrs[addr] = i
			}
		}
	}
	if u.Listen == "" && !l.bad["heartbeat.udp.listen"] {
		l.add(key, "needs heartbeat.udp.listen, where the peers' heartbeats arrive")
	}
}

func (l *loader) validateExternal(c *Config) {
	e := &c.Bus.External
	for i, u := range e.URLs {
		if key := fmt.Sprintf("bus.external.urls[%d]", i); !l.bad[key] {
			if reason := urlProblem(u); reason != "" {
				l.add(key, reason)
			}
		}
	}
	type use struct {
		key string
		set bool
	}
	if len(e.URLs) > 0 {
		var embedded []string
		for _, u := range []use{
			{"bus.listen", l.explicit("bus.listen")},
			{"bus.cluster.listen", c.Bus.Cluster.Listen != ""},
			{"bus.cluster.advertise", c.Bus.Cluster.Advertise != ""},
			{"bus.cluster.peers", len(c.Bus.Cluster.Peers) > 0},
		} {
			if u.set {
				embedded = append(embedded, u.key)
			}
		}
		if len(embedded) > 0 {
			l.add("bus.external.urls", fmt.Sprintf("cannot be combined with %s: with an external bus no embedded server runs", strings.Join(embedded, ", ")))
		}
	} else if !l.bad["bus.external.urls"] {
		for _, u := range []use{
			{"bus.external.credentials", e.Credentials != ""},
			{"bus.external.tls.ca", e.TLS.CA != ""},
			{"bus.external.tls.cert", e.TLS.Cert != ""},
			{"bus.external.tls.key", e.TLS.Key != ""},
			{"bus.external.tls.server_name", e.TLS.ServerName != ""},
			{"bus.external.tls.insecure_skip_verify", e.TLS.InsecureSkipVerify},
			{"bus.external.expected_nodes", l.explicit("bus.external.expected_nodes")},
		} {
			if u.set && !l.bad[u.key] {
				l.add(u.key, "only applies with bus.external.urls")
			}
		}
	}
	l.checkFile("bus.external.credentials", &e.Credentials)
	l.checkFile("bus.external.tls.ca", &e.TLS.CA)
	l.checkFile("bus.external.tls.cert", &e.TLS.Cert)
	l.checkFile("bus.external.tls.key", &e.TLS.Key)
	if e.TLS.Cert != "" && e.TLS.Key == "" {
		l.add("bus.external.tls.cert", "needs bus.external.tls.key as well")
	}
	if e.TLS.Key != "" && e.TLS.Cert == "" {
		l.add("bus.external.tls.key", "needs bus.external.tls.cert as well")
	}
	if sn := e.TLS.ServerName; sn != "" && !l.bad["bus.external.tls.server_name"] {
		if reason := hostProblem(sn, sn, false); reason != "" {
			l.add("bus.external.tls.server_name", reason)
		}
	}
	if n := e.ExpectedNodes; !l.bad["bus.external.expected_nodes"] && (n < 1 || n > 64) {
		l.add("bus.external.expected_nodes", fmt.Sprintf("%d is out of range (1..64)", n))
	}
}

func urlProblem(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", s)
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Sprintf("%q: scheme must be nats, tls, ws or wss", s)
	}
	if u.Host == "" {
		return fmt.Sprintf("%q has no host", s)
	}
	if port := u.Port(); port != "" && !validPort(port) {
		return fmt.Sprintf("%q: port must be 1..65535", s)
	}
	return hostProblem(s, u.Hostname(), false)
}

// checkFile checks that a file exists and can be read. A relative path
// from the config file is taken relative to that file's directory, so a
// config and its credentials can move together.
func (l *loader) checkFile(key string, path *string) {
	if *path == "" || l.bad[key] {
		return
	}
	top, _, _ := strings.Cut(key, "[")
	if l.origins[top].kind == fromFile && !filepath.IsAbs(*path) {
		*path = filepath.Join(filepath.Dir(l.file), *path)
	}
	f, err := os.Open(*path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l.add(key, fmt.Sprintf("%q does not exist", *path))
		return
	case err != nil:
		l.add(key, fmt.Sprintf("cannot read %q: %s", *path, cause(err)))
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		l.add(key, fmt.Sprintf("%q is a directory", *path))
	}
}

func (l *loader) validateTimes(c *Config) {
	const (
		interval = "heartbeat.interval"
		suspect  = "heartbeat.suspect_after"
		dead     = "heartbeat.dead_after"
		lease    = "election.lease_ttl"
		fence    = "self_fence_after"
	)
	h := c.Heartbeat
	l.checkRange(interval, h.Interval, 10*time.Millisecond, 10*time.Second)
	if l.explicit(suspect) {
		l.checkRange(suspect, h.SuspectAfter, 10*time.Millisecond, 10*time.Minute)
	}
	l.checkRange(dead, h.DeadAfter, 10*time.Millisecond, 10*time.Minute)
	l.checkRange(lease, c.Election.LeaseTTL, 500*time.Millisecond, time.Minute)
	l.checkRange(fence, c.Fence.SelfFenceAfter, 20*time.Millisecond, time.Minute)
	l.checkRange("events.max_age", c.Events.MaxAge, time.Minute, 87600*time.Hour)
	if n := c.Events.MaxBytes; !l.bad["events.max_bytes"] && n < 1<<20 {
		l.add("events.max_bytes", fmt.Sprintf("%d bytes is out of range (at least 1MiB)", n))
	}

	// Relations between valid values only; a derived suspect_after is as
	// good as the interval it came from.
	intervalOK, deadOK, leaseOK := !l.bad[interval], !l.bad[dead], !l.bad[lease]
	suspectOK := !l.bad[suspect] && (l.explicit(suspect) || intervalOK)
	suspectIs := fmtDur(h.SuspectAfter)
	if !l.explicit(suspect) {
		suspectIs += " (3 times heartbeat.interval)"
	}
	if suspectOK && intervalOK && h.SuspectAfter <= h.Interval {
		l.add(suspect, fmt.Sprintf("%s must be longer than heartbeat.interval (%s)", suspectIs, fmtDur(h.Interval)))
	}
	if suspectOK && deadOK && h.SuspectAfter >= h.DeadAfter {
		switch {
		case l.explicit(suspect):
			l.add(suspect, fmt.Sprintf("%s must be shorter than heartbeat.dead_after (%s)", suspectIs, fmtDur(h.DeadAfter)))
		case l.explicit(dead) || !l.explicit(interval):
			l.add(dead, fmt.Sprintf("%s must be longer than heartbeat.suspect_after (%s)", fmtDur(h.DeadAfter), suspectIs))
		default: // only the interval was set: point at it
			l.add(interval, fmt.Sprintf("%s makes heartbeat.suspect_after %s, which must be shorter than heartbeat.dead_after (%s); set those too",
				fmtDur(h.Interval), fmtDur(h.SuspectAfter), fmtDur(h.DeadAfter)))
		}
	}
	if ttl := c.Election.LeaseTTL; leaseOK && intervalOK && ttl <= 2*h.Interval {
		if !l.explicit(lease) && l.explicit(interval) {
			l.add(interval, fmt.Sprintf("%s must be under half of election.lease_ttl (%s)", fmtDur(h.Interval), fmtDur(ttl)))
		} else {
			l.add(lease, fmt.Sprintf("%s must be longer than twice heartbeat.interval (%s)", fmtDur(ttl), fmtDur(h.Interval)))
		}
	}

	// Nodes declare a VIP holder dead, and take its VIPs, dead_after
	// after its last heartbeat; the holder, cut off, has released them
	// self_fence_after after the last heartbeat it heard. The two
	// intervals cover a heartbeat lost on the way and the holder's own
	// timer firing late.
	sf, fenceOK := c.Fence.SelfFenceAfter, !l.bad[fence]
	if need := sf + 2*h.Interval; len(c.VIPGroups) > 0 && fenceOK && deadOK && intervalOK && h.DeadAfter < need {
		const why = "so a cut-off owner has released its VIPs before another node takes them"
		switch {
		case l.explicit(dead) || !l.explicit(fence) && !l.explicit(interval):
			l.add(dead, fmt.Sprintf("%s must exceed self_fence_after (%s) by two heartbeat intervals, %s; make it at least %s",
				fmtDur(h.DeadAfter), fmtDur(sf), why, fmtDur(need)))
		case l.explicit(fence):
			l.add(fence, fmt.Sprintf("%s is too long for heartbeat.dead_after (%s), which must exceed self_fence_after by two heartbeat intervals (%s each), %s; set heartbeat.dead_after too",
				fmtDur(sf), fmtDur(h.DeadAfter), fmtDur(h.Interval), why))
		default: // only the interval was set: point at it
			l.add(interval, fmt.Sprintf("%s is too long for heartbeat.dead_after (%s), which must exceed self_fence_after (%s) by two heartbeat intervals, %s; set heartbeat.dead_after too",
				fmtDur(h.Interval), fmtDur(h.DeadAfter), fmtDur(sf), why))
		}
	}
}

func (l *loader) checkRange(key string, d, lo, hi time.Duration) {
	if !l.bad[key] && (d < lo || d > hi) {
		l.add(key, fmt.Sprintf("%s is out of range (%s..%s)", fmtDur(d), fmtDur(lo), fmtDur(hi)))
	}
}

// fmtDur writes 1m and 168h rather than 1m0s and 168h0m0s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/droverha/drover/model"
)

// The words a check's keys take.
var (
	checkKinds  = []string{"tcp", "http", "https", "smtp", "ftp", "imap", "pop3", "ldap", "nntp", "dns", "exec", "none"}
	httpMethods = []string{"GET", "HEAD"}
	queryTypes  = []string{"A", "AAAA", "MX", "TXT", "NS", "CNAME", "SOA", "PTR", "SRV"}
)

// kindKeys are the check keys that apply to some kinds only, in the order
// of docs/config.md.
var kindKeys = []struct {
	key   string
	kinds []string
}{
	{"method", []string{"http", "https"}},
	{"path", []string{"http", "https"}},
	{"host", []string{"http", "https"}},
	{"status", []string{"http", "https"}},
	{"body_regex", []string{"http", "https"}},
	{"sni", []string{"https"}},
	{"tls_skip_verify", []string{"https"}},
	{"ca_file", []string{"https"}},
	{"query_name", []string{"dns"}},
	{"query_type", []string{"dns"}},
	{"expect", []string{"dns"}},
	{"command", []string{"exec"}},
}

// timingKeys are what a real server's check inherits from the service's
// when it names another kind.
var timingKeys = []string{"interval", "timeout", "rise", "fall"}

func defaultCheck() model.Check {
	return model.Check{
		Kind:     defaultCheckKind,
		Interval: defaultCheckInterval,
		Timeout:  defaultCheckTimeout,
		Rise:     defaultRise,
		Fall:     defaultFall,
	}
}

// overrideCheck puts a real server's check keys over the service's check.
// A check of another kind keeps only the timing of the service's: the
// service's path or query name would be meaningless to it.
func overrideCheck(base model.Check, timeoutSet bool, m map[string]any, bad report) *model.Check {
	c := base
	c.Status = slices.Clone(base.Status)
	c.Command = slices.Clone(base.Command)
	if kind, ok := m["kind"].(string); ok && !strings.EqualFold(kind, base.Kind) {
		c = defaultCheck()
		c.Interval, c.Timeout, c.Rise, c.Fall = base.Interval, base.Timeout, base.Rise, base.Fall
	}
	applyCheck(m, &c, bad)
	if m["timeout"] == nil && m["interval"] != nil && !timeoutSet && c.Interval > 0 {
		c.Timeout = min(defaultCheckTimeout, c.Interval)
	}
	return &c
}

// applyCheck sets the keys m gives on c.
func applyCheck(m map[string]any, c *model.Check, bad report) {
	for _, k := range checkShape.keys { // in order, so problems on one line are too
		v := m[k]
		if v == nil {
			continue
		}
		bad := bad.under("." + k)
		switch k {
		case "kind":
			c.Kind = toString(v, bad)
		case "port":
			switch n := toInt(v, false, bad); {
			case n >= 0 && n <= math.MaxUint16:
				c.Port = uint16(n)
			default:
				bad("", fmt.Sprintf("%d is out of range (0..65535; 0 probes the real server's port)", n))
			}
		case "interval":
			c.Interval = toDuration(v, bad)
		case "timeout":
			c.Timeout = toDuration(v, bad)
		case "rise":
			c.Rise = toInt(v, false, bad)
		case "fall":
			c.Fall = toInt(v, false, bad)
		case "method":
			c.Method = toString(v, bad)
		case "path":
			c.Path = toString(v, bad)
		case "host":
			c.Host = toString(v, bad)
		case "status":
			c.Status = toStatus(v, bad)
		case "body_regex":
			c.BodyRegex = toString(v, bad)
		case "sni":
			c.SNI = toString(v, bad)
		case "tls_skip_verify":
			c.TLSSkipVerify = toBool(v, false, bad)
		case "ca_file":
			c.CAFile = toString(v, bad)
		case "query_name":
			c.QueryName = toString(v, bad)
		case "query_type":
			c.QueryType = toString(v, bad)
		case "expect":
			c.Expect = toString(v, bad)
		case "command":
			c.Command = toList(v, false, bad)
		}
	}
}

// toStatus reads a list of HTTP status codes. A list given as [] stays
// non-nil, so that validation can tell it from a missing one.
func toStatus(raw any, bad report) []int {
	items, ok := raw.([]any)
	if !ok {
		bad("", "expected a list of status codes such as [200, 204], got "+describe(raw))
		return nil
	}
	out := make([]int, len(items))
	for i, item := range items {
		out[i] = toInt(item, false, bad.under(fmt.Sprintf("[%d]", i)))
	}
	return out
}

// validateCheck checks a health check and fills the defaults of its
// kind. base is "" for a service's check; for a real server's it is the
// key of the service's check, which gave the keys this one does not: a
// problem with those was reported there.
func (l *loader) validateCheck(at, base string, c *model.Check) {
	if l.bad[at] {
		return
	}
	given := func(k string) bool { return l.given[at+"."+k] }
	here := func(k string) bool { return base == "" || given(k) }
	ok := func(k string) bool {
		return !l.bad[at+"."+k] && (base == "" || given(k) || !l.bad[base+"."+k])
	}
	if here("kind") {
		c.Kind = l.oneOf(at+".kind", c.Kind, checkKinds...)
	} else {
		c.Kind = strings.ToLower(c.Kind)
	}
	kindOK := ok("kind") && slices.Contains(checkKinds, c.Kind)

	for _, k := range []string{"interval", "timeout"} {
		d := c.Interval
		if k == "timeout" {
			d = c.Timeout
		}
		if here(k) && ok(k) && d <= 0 {
			l.add(at+"."+k, fmt.Sprintf("%s must be more than 0s", fmtDur(d)))
		}
	}
	for _, k := range []string{"rise", "fall"} {
		n := c.Rise
		if k == "fall" {
			n = c.Fall
		}
		if here(k) && ok(k) && n < 1 {
			l.add(at+"."+k, fmt.Sprintf("%d is out of range (at least 1)", n))
		}
	}
	if ok("interval") && ok("timeout") && c.Interval > 0 && c.Timeout > c.Interval {
		switch {
		case given("timeout"):
			l.add(at+".timeout", fmt.Sprintf("%s is longer than the check's interval (%s)", fmtDur(c.Timeout), fmtDur(c.Interval)))
		case given("interval"):
			l.add(at+".interval", fmt.Sprintf("%s is shorter than the check's timeout (%s, from %s.timeout)", fmtDur(c.Interval), fmtDur(c.Timeout), base))
		}
	}
	if !kindOK {
		return
	}
	if c.Kind == "none" {
		for _, k := range append([]string{"port"}, timingKeys...) {
			if given(k) && !l.bad[at+"."+k] {
				l.add(at+"."+k, "only applies to a check that probes; kind none probes nothing")
			}
		}
	}
	for _, kk := range kindKeys {
		if given(kk.key) && !l.bad[at+"."+kk.key] && !slices.Contains(kk.kinds, c.Kind) {
			l.add(at+"."+kk.key, fmt.Sprintf("only applies with kind %s; this check's kind is %s", strings.Join(kk.kinds, " or "), c.Kind))
		}
	}
	switch c.Kind {
	case "http", "https":
		l.validateHTTP(at, base, c, here, ok)
	case "dns":
		if c.QueryType == "" {
			c.QueryType = defaultQueryType
		} else if here("query_type") {
			c.QueryType = l.oneOf(at+".query_type", c.QueryType, queryTypes...)
		} else {
			c.QueryType = strings.ToUpper(c.QueryType)
		}
		switch {
		case !here("query_name") && !here("kind") || l.bad[at+".query_name"]:
		case c.QueryName == "":
			l.add(at+".query_name", "missing: a dns check needs a name to query")
		case !validQueryName(c.QueryName):
			l.add(at+".query_name", fmt.Sprintf("%q is not a DNS name", c.QueryName))
		}
		if c.Expect != "" && here("expect") && ok("expect") && ok("query_type") {
			a, err := netip.ParseAddr(c.Expect)
			switch {
			case c.QueryType == "A" && (err != nil || !a.Is4()):
				l.add(at+".expect", fmt.Sprintf("%q is not an IPv4 address, which an A record holds", c.Expect))
			case c.QueryType == "AAAA" && (err != nil || !a.Is6() || a.Is4In6()):
				l.add(at+".expect", fmt.Sprintf("%q is not an IPv6 address, which an AAAA record holds", c.Expect))
			}
		}
	case "exec":
		switch {
		case !here("command") && !here("kind") || l.bad[at+".command"]:
		case c.Command == nil:
			l.add(at+".command", "missing: an exec check needs a command to run")
		case len(c.Command) == 0:
			l.add(at+".command", "needs at least the program to run")
		case c.Command[0] == "" && !l.bad[at+".command[0]"]:
			l.add(at+".command[0]", "the program to run is empty")
		}
	}
}

func (l *loader) validateHTTP(at, base string, c *model.Check, here, ok func(string) bool) {
	switch {
	case c.Method == "":
		c.Method = defaultMethod
	case here("method"):
		c.Method = l.oneOf(at+".method", c.Method, httpMethods...)
	default:
		c.Method = strings.ToUpper(c.Method)
	}
	switch {
	case c.Path == "" && !l.given[at+".path"]:
		c.Path = defaultPath
	case here("path") && ok("path") && !strings.HasPrefix(c.Path, "/"):
		l.add(at+".path", fmt.Sprintf("%q must start with /", c.Path))
	}
	if c.Host != "" && here("host") && ok("host") && !validHostHeader(c.Host) {
		l.add(at+".host", fmt.Sprintf("%q is not a host name or IP address, with a port or without", c.Host))
	}
	if here("status") && ok("status") {
		if c.Status != nil && len(c.Status) == 0 {
			l.add(at+".status", "needs at least one status code; leave it out to accept 200..399")
		}
		for k, code := range c.Status {
			if item := fmt.Sprintf("%s.status[%d]", at, k); !l.bad[item] && (code < 100 || code > 599) {
				l.add(item, fmt.Sprintf("%d is out of range (100..599)", code))
			}
		}
	}
	if c.BodyRegex != "" && here("body_regex") && ok("body_regex") {
		if _, err := regexp.Compile(c.BodyRegex); err != nil {
			l.add(at+".body_regex", fmt.Sprintf("%q is not a regular expression: %s", c.BodyRegex, strings.TrimPrefix(err.Error(), "error parsing regexp: ")))
		} else if c.Method == "HEAD" && !l.bad[at+".method"] {
			l.add(at+".body_regex", "method HEAD gets no body to match; use GET")
		}
	}
	if c.Kind != "https" {
		return
	}
	if c.SNI != "" && here("sni") && ok("sni") && !isDNSName(c.SNI) {
		if _, err := netip.ParseAddr(c.SNI); err != nil {
			l.add(at+".sni", fmt.Sprintf("%q is neither a DNS name nor an IP address", c.SNI))
		}
	}
	if c.CAFile != "" {
		if here("ca_file") {
			l.checkFile(at+".ca_file", &c.CAFile)
		} else if !filepath.IsAbs(c.CAFile) {
			c.CAFile = filepath.Join(filepath.Dir(l.file), c.CAFile) // as the service's check has it
		}
		switch {
		case !c.TLSSkipVerify || l.bad[at+".ca_file"] || l.bad[at+".tls_skip_verify"]:
		case here("ca_file"):
			l.add(at+".ca_file", "is unused with tls_skip_verify: true, which verifies no certificate")
		case here("tls_skip_verify"):
			l.add(at+".tls_skip_verify", fmt.Sprintf("true leaves %s.ca_file unused; set ca_file: \"\" here too", base))
		}
	}
}

// validHostHeader accepts what an HTTP Host header may hold: a host name
// or an IP address, with or without a port.
func validHostHeader(h string) bool {
	if host, port, err := net.SplitHostPort(h); err == nil {
		if !validPort(port) {
			return false
		}
		h = host
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return !strings.Contains(h, "%")
	}
	return isDNSName(h)
}

// validQueryName accepts a DNS name to query. It allows what host names
// may not have, such as the '_' of SRV names (_sip._tcp.example.com) and
// all-digit labels (1.2.0.192.in-addr.arpa).
func validQueryName(s string) bool {
	if s == "." {
		return true
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := range len(label) {
			if !isNameByte(label[i]) && label[i] != '*' {
				return false
			}
		}
	}
	return true
}

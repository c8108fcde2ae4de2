package check

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/droverha/drover/model"
)

// Target is one real server address to probe with one check.
type Target struct {
	Address netip.AddrPort
	Check   model.Check
}

// Key identifies a probe loop: two Targets with equal Keys are probed by
// one loop, however many services name them. model.Check holds slices and
// so cannot be a map key itself; Key is its comparable image, with the
// defaults applied, so a check that leaves Interval zero and one that says
// 500ms share a loop.
type Key struct {
	addr netip.AddrPort
	c    checkKey
}

// checkKey mirrors model.Check field for field; slices are encoded as
// strings. TestKeyCoversEveryCheckField fails when model.Check grows a
// field this does not carry.
type checkKey struct {
	kind          string
	port          uint16
	interval      time.Duration
	timeout       time.Duration
	rise, fall    int
	method, path  string
	host          string
	status        string
	bodyRegex     string
	sni           string
	tlsSkipVerify bool
	caFile        string
	queryName     string
	queryType     string
	expect        string
	command       string
}

// Key returns t's probe loop key.
func (t Target) Key() Key {
	c := WithDefaults(t.Check)
	var status strings.Builder
	for i, s := range c.Status {
		if i > 0 {
			status.WriteByte(',')
		}
		status.WriteString(strconv.Itoa(s))
	}
	var command strings.Builder
	for _, a := range c.Command {
		// Quoted arguments joined by spaces cannot run together:
		// ["a b"] and ["a", "b"] differ.
		command.WriteString(strconv.Quote(a))
		command.WriteByte(' ')
	}
	return Key{addr: t.Address, c: checkKey{
		kind:          c.Kind,
		port:          c.Port,
		interval:      c.Interval,
		timeout:       c.Timeout,
		rise:          c.Rise,
		fall:          c.Fall,
		method:        c.Method,
		path:          c.Path,
		host:          c.Host,
		status:        status.String(),
		bodyRegex:     c.BodyRegex,
		sni:           c.SNI,
		tlsSkipVerify: c.TLSSkipVerify,
		caFile:        c.CAFile,
		queryName:     c.QueryName,
		queryType:     strings.ToUpper(c.QueryType),
		expect:        c.Expect,
		command:       command.String(),
	}}
}

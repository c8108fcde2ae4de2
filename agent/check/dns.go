package check

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/droverha/drover/model"
)

// maxUDPResponse is the buffer for a UDP answer. The query carries no EDNS
// (RFC 6891) option, so a conforming server answers in 512 bytes (RFC 1035
// §4.2.1) and sets TC when it cannot; the larger buffer only keeps an
// oversized answer from being cut silently.
const maxUDPResponse = 4096

var dnsTypes = map[string]dnsmessage.Type{
	"A": dnsmessage.TypeA, "AAAA": dnsmessage.TypeAAAA, "MX": dnsmessage.TypeMX,
	"TXT": dnsmessage.TypeTXT, "NS": dnsmessage.TypeNS, "CNAME": dnsmessage.TypeCNAME,
	"SOA": dnsmessage.TypeSOA, "PTR": dnsmessage.TypePTR, "SRV": dnsmessage.TypeSRV,
}

// dnsProber asks one question over UDP, again over TCP when the answer is
// truncated (RFC 7766 §5), and wants NOERROR and, when expect is set, an
// answer of the asked type whose value equals it.
type dnsProber struct {
	addr   string
	q      dnsmessage.Question
	expect string
	buf    []byte // UDP receive buffer, reused
}

func newDNSProber(addr netip.AddrPort, c model.Check) prober {
	if c.QueryName == "" {
		return failProber("dns: no query name")
	}
	typ, ok := dnsTypes[strings.ToUpper(c.QueryType)]
	if !ok {
		return failProber(fmt.Sprintf("dns: unknown query type %q", c.QueryType))
	}
	fqdn := c.QueryName
	if !strings.HasSuffix(fqdn, ".") {
		fqdn += "."
	}
	name, err := dnsmessage.NewName(fqdn)
	if err != nil {
		return failProber(fmt.Sprintf("dns: bad query name %q: %v", c.QueryName, err))
	}
	return &dnsProber{
		addr:   addr.String(),
		q:      dnsmessage.Question{Name: name, Type: typ, Class: dnsmessage.ClassINET},
		expect: c.Expect,
	}
}

func (p *dnsProber) probe(ctx context.Context) Result {
	id := uint16(rand.Uint32()) // a new ID per query, so a late answer to an earlier probe is not taken for this one
	query, err := (&dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{p.q},
	}).Pack()
	if err != nil {
		return Result{Reason: "dns: building query: " + err.Error()}
	}

	conn, r, ok := dial(ctx, "udp", p.addr)
	if !ok {
		return r
	}
	defer conn.Close()
	if _, err := conn.Write(query); err != nil {
		return Result{Reason: "dns: sending query: " + errReason(err)}
	}
	if p.buf == nil {
		p.buf = make([]byte, maxUDPResponse)
	}
	n, err := conn.Read(p.buf)
	if err != nil {
		// A closed UDP port answers with ICMP, which Linux reports on the
		// connected socket as "connection refused".
		return Result{Reason: "dns: reading udp answer: " + errReason(err)}
	}
	r, truncated := checkDNSResponse(p.buf[:n], id, p.q, p.expect, false)
	if !truncated {
		return r
	}
	return p.probeTCP(ctx, query, id)
}

// probeTCP asks again over TCP, each message behind a two-byte length
// (RFC 1035 §4.2.2).
func (p *dnsProber) probeTCP(ctx context.Context, query []byte, id uint16) Result {
	conn, r, ok := dial(ctx, "tcp", p.addr)
	if !ok {
		r.Reason = "dns: truncated over udp, tcp " + r.Reason
		return r
	}
	defer conn.Close()
	msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(query)), uint16(len(query)))
	if _, err := conn.Write(append(msg, query...)); err != nil {
		return Result{Reason: "dns: sending tcp query: " + errReason(err)}
	}
	var l [2]byte
	if _, err := io.ReadFull(conn, l[:]); err != nil {
		return Result{Reason: "dns: reading tcp answer: " + errReason(err)}
	}
	resp := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(conn, resp); err != nil {
		return Result{Reason: "dns: reading tcp answer: " + errReason(err)}
	}
	r, _ = checkDNSResponse(resp, id, p.q, p.expect, true)
	return r
}

// rcodeNames are the RFC 1035 §4.1.1 / RFC 6895 mnemonics operators know.
var rcodeNames = map[dnsmessage.RCode]string{
	dnsmessage.RCodeSuccess: "NOERROR", dnsmessage.RCodeFormatError: "FORMERR",
	dnsmessage.RCodeServerFailure: "SERVFAIL", dnsmessage.RCodeNameError: "NXDOMAIN",
	dnsmessage.RCodeNotImplemented: "NOTIMP", dnsmessage.RCodeRefused: "REFUSED",
}

func rcodeName(c dnsmessage.RCode) string {
	if s, ok := rcodeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", int(c))
}

// checkDNSResponse judges the answer msg to query id asking q. truncated
// says the answer came over UDP with TC set and must be asked again over
// TCP; over TCP a truncated answer is judged as it is.
func checkDNSResponse(msg []byte, id uint16, q dnsmessage.Question, expect string, overTCP bool) (r Result, truncated bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return Result{Reason: "dns: malformed answer: " + err.Error()}, false
	}
	if !h.Response {
		return Result{Reason: "dns: answer is not a response"}, false
	}
	if h.ID != id {
		return Result{Reason: fmt.Sprintf("dns: answer ID %d does not match query ID %d", h.ID, id)}, false
	}
	if h.Truncated && !overTCP {
		return Result{}, true
	}
	questions, err := p.AllQuestions()
	if err != nil {
		return Result{Reason: "dns: malformed answer: " + err.Error()}, false
	}
	// Some servers leave the question out of an error answer; an answer to
	// another question is garbage.
	if len(questions) > 1 || (len(questions) == 1 && !sameQuestion(questions[0], q)) {
		return Result{Reason: "dns: answer is for another question"}, false
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return Result{Reason: "dns: rcode " + rcodeName(h.RCode)}, false
	}
	if len(questions) == 0 {
		return Result{Reason: "dns: answer has no question"}, false
	}

	var got []string
	for {
		rh, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return Result{Reason: "dns: malformed answer: " + err.Error()}, false
		}
		if rh.Type != q.Type || rh.Class != q.Class {
			if err := p.SkipAnswer(); err != nil {
				return Result{Reason: "dns: malformed answer: " + err.Error()}, false
			}
			continue
		}
		v, err := answerValue(&p, rh.Type)
		if err != nil {
			return Result{Reason: "dns: malformed answer: " + err.Error()}, false
		}
		if expect == "" || valueMatches(rh.Type, v, expect) {
			return Result{Healthy: true, Reason: fmt.Sprintf("dns: %s answer %s", typeName(q.Type), quote([]byte(v)))}, false
		}
		got = append(got, quote([]byte(v)))
	}
	typ := typeName(q.Type)
	switch {
	case expect == "":
		return Result{Healthy: true, Reason: "dns: NOERROR, no " + typ + " answer"}, false
	case len(got) == 0:
		return Result{Reason: fmt.Sprintf("dns: no %s answer, expected %s", typ, quote([]byte(expect)))}, false
	default:
		if len(got) > 4 {
			got = append(got[:4], "...")
		}
		return Result{Reason: fmt.Sprintf("dns: no %s answer is %s (got %s)", typ, quote([]byte(expect)), strings.Join(got, ", "))}, false
	}
}

func typeName(t dnsmessage.Type) string { return strings.TrimPrefix(t.String(), "Type") }

func sameQuestion(a, b dnsmessage.Question) bool {
	return a.Type == b.Type && a.Class == b.Class && strings.EqualFold(a.Name.String(), b.Name.String())
}

// answerValue renders the resource under the parser as the text Expect is
// compared with: an address, a name, or TXT's strings joined.
func answerValue(p *dnsmessage.Parser, t dnsmessage.Type) (string, error) {
	switch t {
	case dnsmessage.TypeA:
		r, err := p.AResource()
		return netip.AddrFrom4(r.A).String(), err
	case dnsmessage.TypeAAAA:
		r, err := p.AAAAResource()
		return netip.AddrFrom16(r.AAAA).String(), err
	case dnsmessage.TypeNS:
		r, err := p.NSResource()
		return r.NS.String(), err
	case dnsmessage.TypeCNAME:
		r, err := p.CNAMEResource()
		return r.CNAME.String(), err
	case dnsmessage.TypePTR:
		r, err := p.PTRResource()
		return r.PTR.String(), err
	case dnsmessage.TypeMX:
		r, err := p.MXResource()
		return r.MX.String(), err
	case dnsmessage.TypeSRV:
		r, err := p.SRVResource()
		return r.Target.String(), err
	case dnsmessage.TypeSOA:
		r, err := p.SOAResource()
		return r.NS.String(), err
	case dnsmessage.TypeTXT:
		r, err := p.TXTResource()
		return strings.Join(r.TXT, ""), err
	}
	return "", p.SkipAnswer()
}

// valueMatches compares addresses as addresses (so "::1" equals
// "0:0::1"), names without case and trailing dot, and TXT exactly. MX, SRV
// and SOA compare their host name (exchange, target, primary name server).
func valueMatches(t dnsmessage.Type, got, expect string) bool {
	switch t {
	case dnsmessage.TypeA, dnsmessage.TypeAAAA:
		a, err := netip.ParseAddr(expect)
		return err == nil && a.String() == got
	case dnsmessage.TypeTXT:
		return got == expect
	}
	return strings.EqualFold(strings.TrimSuffix(got, "."), strings.TrimSuffix(expect, "."))
}

package check

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/droverha/drover/model"
)

// dnsServer is a tiny DNS responder on loopback: answer builds the reply
// (packed) to each query, given whether it came over TCP; nil sends
// nothing. With tcp it also listens on TCP at the same port.
type dnsServer struct {
	addr    netip.AddrPort
	mu      sync.Mutex
	tcpSeen int // queries over TCP
}

func newDNSServer(t testing.TB, tcp bool, answer func(q dnsmessage.Message, overTCP bool) []byte) *dnsServer {
	t.Helper()
	s := &dnsServer{}
	var pc net.PacketConn
	var ln net.Listener
	// The TCP port must be the UDP one; another process may hold it.
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
		if !tcp {
			break
		}
		if ln, err = net.Listen("tcp", s.addr.String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var q dnsmessage.Message
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			if resp := answer(q, false); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	})
	if ln != nil {
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Go(func() {
					defer c.Close()
					var l [2]byte
					if _, err := io.ReadFull(c, l[:]); err != nil {
						return
					}
					msg := make([]byte, binary.BigEndian.Uint16(l[:]))
					if _, err := io.ReadFull(c, msg); err != nil {
						return
					}
					var q dnsmessage.Message
					if q.Unpack(msg) != nil {
						return
					}
					s.mu.Lock()
					s.tcpSeen++
					s.mu.Unlock()
					if resp := answer(q, true); resp != nil {
						c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(resp))))
						c.Write(resp)
					}
				})
			}
		})
	}
	t.Cleanup(func() {
		pc.Close()
		if ln != nil {
			ln.Close()
		}
		wg.Wait()
	})
	return s
}

// zone answers from a fixed set of records, the way an authoritative
// server would: NXDOMAIN for names it lacks.
func zone(records ...dnsmessage.Resource) func(q dnsmessage.Message, overTCP bool) []byte {
	return func(q dnsmessage.Message, _ bool) []byte {
		resp := dnsmessage.Message{
			Header:    dnsmessage.Header{ID: q.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError},
			Questions: q.Questions,
		}
		for _, r := range records {
			if len(q.Questions) == 1 && r.Header.Name == q.Questions[0].Name {
				resp.RCode = dnsmessage.RCodeSuccess
				if r.Header.Type == q.Questions[0].Type {
					resp.Answers = append(resp.Answers, r)
				}
			}
		}
		b, err := resp.Pack()
		if err != nil {
			panic(err)
		}
		return b
	}
}

func rr(name string, typ dnsmessage.Type, body dnsmessage.ResourceBody) dnsmessage.Resource {
	return dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET, TTL: 60},
		Body:   body,
	}
}

func TestProbeDNS(t *testing.T) {
	records := []dnsmessage.Resource{
		rr("www.example.com.", dnsmessage.TypeA, &dnsmessage.AResource{A: [4]byte{192, 0, 2, 10}}),
		rr("www.example.com.", dnsmessage.TypeA, &dnsmessage.AResource{A: [4]byte{192, 0, 2, 11}}),
		rr("www.example.com.", dnsmessage.TypeAAAA, &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("2001:db8::10").As16()}),
		rr("example.com.", dnsmessage.TypeMX, &dnsmessage.MXResource{Pref: 10, MX: dnsmessage.MustNewName("mx.example.com.")}),
		rr("example.com.", dnsmessage.TypeTXT, &dnsmessage.TXTResource{TXT: []string{"v=spf1 ", "-all"}}),
		rr("alias.example.com.", dnsmessage.TypeCNAME, &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("www.example.com.")}),
	}
	auth := newDNSServer(t, false, zone(records...)).addr

	// Truncating over UDP, answering over TCP.
	truncating := newDNSServer(t, true, func(q dnsmessage.Message, overTCP bool) []byte {
		if overTCP {
			return zone(records...)(q, true)
		}
		b, _ := (&dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true, Truncated: true}, Questions: q.Questions}).Pack()
		return b
	})
	t.Cleanup(func() { // after the parallel cases
		truncating.mu.Lock()
		defer truncating.mu.Unlock()
		if truncating.tcpSeen == 0 {
			t.Error("the truncated answer was not asked again over TCP")
		}
	})
	truncatingNoTCP := newDNSServer(t, false, func(q dnsmessage.Message, _ bool) []byte {
		b, _ := (&dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true, Truncated: true}, Questions: q.Questions}).Pack()
		return b
	})
	garbage := newDNSServer(t, false, func(dnsmessage.Message, bool) []byte { return []byte("garbage") }).addr
	wrongID := newDNSServer(t, false, func(q dnsmessage.Message, _ bool) []byte {
		q.ID++
		q.Response = true
		b, _ := q.Pack()
		return b
	}).addr
	otherQuestion := newDNSServer(t, false, func(q dnsmessage.Message, _ bool) []byte {
		q.Response = true
		q.Questions[0].Name = dnsmessage.MustNewName("evil.example.")
		b, _ := q.Pack()
		return b
	}).addr
	servfail := newDNSServer(t, false, func(q dnsmessage.Message, _ bool) []byte {
		b, _ := (&dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true, RCode: dnsmessage.RCodeServerFailure}}).Pack()
		return b
	}).addr
	mute := newDNSServer(t, false, func(dnsmessage.Message, bool) []byte { return nil }).addr
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()

	d := func(name, typ, expect string) model.Check {
		return model.Check{Kind: "dns", QueryName: name, QueryType: typ, Expect: expect}
	}
	runProbeCases(t, []probeCase{
		{name: "A any", target: auth, check: d("www.example.com", "", ""),
			healthy: true, reason: `dns: A answer "192.0.2.10"`},
		{name: "A expected", target: auth, check: d("www.example.com.", "A", "192.0.2.11"),
			healthy: true, reason: `dns: A answer "192.0.2.11"`},
		{name: "A not expected", target: auth, check: d("www.example.com", "A", "192.0.2.99"),
			reason: `dns: no A answer is "192.0.2.99" (got "192.0.2.10", "192.0.2.11")`},
		{name: "AAAA expected, other spelling", target: auth, check: d("www.example.com", "aaaa", "2001:db8:0::10"),
			healthy: true, reason: `dns: AAAA answer "2001:db8::10"`},
		{name: "MX", target: auth, check: d("example.com", "MX", "MX.example.com"),
			healthy: true, reason: `dns: MX answer "mx.example.com."`},
		{name: "TXT", target: auth, check: d("example.com", "TXT", "v=spf1 -all"),
			healthy: true, reason: `dns: TXT answer "v=spf1 -all"`},
		{name: "CNAME", target: auth, check: d("alias.example.com", "CNAME", "www.example.com."),
			healthy: true, reason: `dns: CNAME answer "www.example.com."`},
		{name: "no answer of the type", target: auth, check: d("example.com", "A", ""),
			healthy: true, reason: `dns: NOERROR, no A answer`},
		{name: "no answer, expected", target: auth, check: d("example.com", "A", "192.0.2.1"),
			reason: `dns: no A answer, expected "192.0.2.1"`},
		{name: "NXDOMAIN", target: auth, check: d("nope.example.com", "A", ""),
			reason: `dns: rcode NXDOMAIN`},
		{name: "SERVFAIL without question", target: servfail, check: d("www.example.com", "A", ""),
			reason: `dns: rcode SERVFAIL`},
		{name: "truncated, tcp", target: truncating.addr, check: d("www.example.com", "A", "192.0.2.10"),
			healthy: true, reason: `dns: A answer "192.0.2.10"`},
		{name: "truncated, tcp refused", target: truncatingNoTCP.addr, check: d("www.example.com", "A", ""),
			reason: `dns: truncated over udp, tcp connect: connection refused`},
		{name: "garbage", target: garbage, check: d("www.example.com", "A", ""),
			reason: `dns: malformed answer: `, contains: true},
		{name: "wrong ID", target: wrongID, check: d("www.example.com", "A", ""),
			reason: `dns: answer ID `, contains: true},
		{name: "other question", target: otherQuestion, check: d("www.example.com", "A", ""),
			reason: `dns: answer is for another question`},
		{name: "mute", target: mute, check: d("www.example.com", "A", ""), timeout: shortTimeout,
			reason: `dns: reading udp answer: timed out`},
		{name: "closed port", target: closed, check: d("www.example.com", "A", ""),
			reason: `dns: reading udp answer: connection refused`},
		{name: "no name", target: auth, check: d("", "A", ""),
			reason: `dns: no query name`},
		{name: "bad type", target: auth, check: d("example.com", "HINFO", ""),
			reason: `dns: unknown query type "HINFO"`},
	})
}

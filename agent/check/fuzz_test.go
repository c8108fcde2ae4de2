package check

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/dns/dnsmessage"
)

// The decoders of what real servers answer. A real server may send
// anything; the checker must judge it, never panic, and keep its reasons
// short.

// checkReason is what every reason must be: short enough for a status
// line, one line, valid UTF-8 (SNMP and JSON faces show it).
func checkReason(t *testing.T, r Result) {
	t.Helper()
	if len(r.Reason) > 300 || strings.ContainsAny(r.Reason, "\r\n") || !utf8.ValidString(r.Reason) {
		t.Fatalf("reason %q is not one short line of UTF-8", r.Reason)
	}
	if r.Healthy && r.Reason == "" {
		t.Fatal("a healthy verdict without a reason")
	}
}

func FuzzGreeting(f *testing.F) {
	for _, s := range []string{
		"220 mx.example.com ESMTP\r\n",
		"220-mx\r\n220-more\r\n220 ready\r\n",
		"220-Welcome\r\n  free text\r\n220 ok\r\n",
		"554 go away\r\n",
		"200 news\r\n", "201 ro\r\n", "400 no\r\n",
		"+OK ready\r\n", "-ERR no\r\n",
		"* OK [CAPABILITY IMAP4rev2] ready\r\n", "* PREAUTH\r\n", "* BYE\r\n",
		"garbage\r\n", "", "220", "220-\r\n", "\x00\xff\xfe\r\n",
		"220 " + strings.Repeat("a", 2000) + "\r\n",
	} {
		for k := range 5 {
			f.Add(uint8(k), []byte(s))
		}
	}
	kinds := []string{KindSMTP, KindFTP, KindNNTP, KindPOP3, KindIMAP}
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		kind := kinds[int(k)%len(kinds)]
		br := bufio.NewReaderSize(bytes.NewReader(data), 1024)
		greeting, r, ok := readGreeting(kind, br)
		if ok {
			if len(greeting) > 64 {
				t.Fatalf("greeting of %d bytes kept", len(greeting))
			}
			checkReason(t, Result{Healthy: true, Reason: kind + ": greeting " + quote(greeting)})
			return
		}
		if r.Healthy {
			t.Fatal("a failed greeting is healthy")
		}
		checkReason(t, r)
	})
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n", "250 ok\r\n", "502 no\r\n",
		"250-\r\n", "250", "25", "2500 x\r\n", "abc\r\n", "999 x\r\n",
		"250-a\r\n" + strings.Repeat("250-b\r\n", 101) + "250 c\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := readReply(bufio.NewReaderSize(bytes.NewReader(data), 1024))
		if err == nil && (rep.code < 100 || rep.code > 599) {
			t.Fatalf("code %d accepted", rep.code)
		}
	})
}

func FuzzHTTPResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\n\r\nbody",
		"HTTP/1.0 404\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\n folded\r\n\r\n",
		"HTTP/2 200\r\n\r\n", "garbage\r\n\r\n", "", "HTTP/1.1 2",
		strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 10),
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		const limit = 64
		status, body, err := readHTTPResponse(bufio.NewReaderSize(bytes.NewReader(data), 256), head, nil, limit)
		if err != nil {
			return
		}
		if status < 100 || status > 999 {
			t.Fatalf("status %d accepted", status)
		}
		if len(body) > limit {
			t.Fatalf("body of %d bytes, more than %d", len(body), limit)
		}
	})
}

func FuzzLDAPResponse(f *testing.F) {
	for _, b := range [][]byte{
		ldapSuccess, ldapSuccessLongForm, ldapSuccessControls, ldapInappropriate,
		ldapNotice, ldapWrongID, ldapSearchDone, ldapNoDiag, ldapInnerOverrun,
		{0x30, 0x80, 0x02, 0x01, 0x01, 0, 0},
		{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff},
		{0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
		[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"),
		{},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := readBERMessage(bufio.NewReader(bytes.NewReader(data)), maxLDAPMessage)
		if err != nil {
			return
		}
		if len(msg) > maxLDAPMessage {
			t.Fatalf("message of %d bytes accepted", len(msg))
		}
		res, err := parseBindResponse(msg)
		if err != nil {
			return
		}
		if res.code < 0 {
			t.Fatalf("result code %d", res.code)
		}
		_ = res.String()
	})
}

func FuzzDNSResponse(f *testing.F) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("www.example.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	seed := func(m dnsmessage.Message) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, "192.0.2.10")
	}
	hdr := dnsmessage.Header{ID: 0x1234, Response: true}
	seed(dnsmessage.Message{Header: hdr, Questions: []dnsmessage.Question{q}, Answers: []dnsmessage.Resource{
		rr("www.example.com.", dnsmessage.TypeA, &dnsmessage.AResource{A: [4]byte{192, 0, 2, 10}}),
		rr("www.example.com.", dnsmessage.TypeCNAME, &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("x.example.")}),
		rr("www.example.com.", dnsmessage.TypeTXT, &dnsmessage.TXTResource{TXT: []string{"a", "b"}}),
	}})
	seed(dnsmessage.Message{Header: dnsmessage.Header{ID: 0x1234, Response: true, Truncated: true}, Questions: []dnsmessage.Question{q}})
	seed(dnsmessage.Message{Header: dnsmessage.Header{ID: 0x1234, Response: true, RCode: dnsmessage.RCodeNameError}})
	seed(dnsmessage.Message{Header: dnsmessage.Header{ID: 0x4321, Response: true}})
	f.Add([]byte("garbage"), "")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, msg []byte, expect string) {
		for _, tcp := range []bool{false, true} {
			r, truncated := checkDNSResponse(msg, 0x1234, q, expect, tcp)
			if truncated {
				if tcp {
					t.Fatal("truncated over TCP")
				}
				continue
			}
			checkReason(t, r)
		}
	})
}

// FuzzDNSResponseTypes runs every query type over the same answer bytes.
func FuzzDNSResponseTypes(f *testing.F) {
	name := dnsmessage.MustNewName("example.com.")
	for _, typ := range dnsTypes {
		m := dnsmessage.Message{Header: dnsmessage.Header{Response: true},
			Questions: []dnsmessage.Question{{Name: name, Type: typ, Class: dnsmessage.ClassINET}}}
		b, _ := m.Pack()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) < 2 {
			return
		}
		id := binary.BigEndian.Uint16(msg)
		for _, typ := range dnsTypes {
			q := dnsmessage.Question{Name: name, Type: typ, Class: dnsmessage.ClassINET}
			r, _ := checkDNSResponse(msg, id, q, "x", true)
			checkReason(t, r)
		}
	})
}

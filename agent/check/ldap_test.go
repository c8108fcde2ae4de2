package check

import (
	"bufio"
	"bytes"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/droverha/drover/model"
)

// BindResponses (RFC 4511 §4.2.2) in BER, built by hand as a server would
// send them.
var (
	ldapSuccess = []byte{
		0x30, 0x0c, 0x02, 0x01, 0x01, // messageID 1
		0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00, // success, "", ""
	}
	// long-form lengths (0x81, 0x82) where short would do, as some
	// servers encode
	ldapSuccessLongForm = []byte{
		0x30, 0x82, 0x00, 0x0d, 0x02, 0x01, 0x01,
		0x61, 0x81, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
	}
	// with a trailing controls element, which the probe does not read
	ldapSuccessControls = []byte{
		0x30, 0x0e, 0x02, 0x01, 0x01,
		0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
		0xa0, 0x00,
	}
	ldapInappropriate = ber(0x30,
		ber(0x02, []byte{1}),
		ber(0x61, ber(0x0a, []byte{48}), ber(0x04), ber(0x04, []byte("anonymous bind disallowed by policy"))))
	// a Notice of Disconnection (RFC 4511 §4.4.1): unavailable
	ldapNotice = []byte{
		0x30, 0x24, 0x02, 0x01, 0x00,
		0x78, 0x1f, 0x0a, 0x01, 0x34, 0x04, 0x00, 0x04, 0x00,
		0x8a, 0x16, '1', '.', '3', '.', '6', '.', '1', '.', '4', '.', '1', '.', '1', '4', '6', '6', '.', '2', '0', '0', '3', '6',
	}
	ldapWrongID = []byte{
		0x30, 0x0c, 0x02, 0x01, 0x07,
		0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
	}
	ldapSearchDone = []byte{ // a SearchResultDone, not a BindResponse
		0x30, 0x0c, 0x02, 0x01, 0x01,
		0x65, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
	}
	ldapNoDiag = []byte{ // the result cut after resultCode
		0x30, 0x08, 0x02, 0x01, 0x01,
		0x61, 0x03, 0x0a, 0x01, 0x00,
	}
	ldapInnerOverrun = []byte{ // the BindResponse claims more than the message holds
		0x30, 0x0c, 0x02, 0x01, 0x01,
		0x61, 0x7f, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
	}
)

// ber encodes one element with a short-form length (test messages stay
// under 128 bytes).
func ber(tag byte, content ...[]byte) []byte {
	c := bytes.Join(content, nil)
	if len(c) > 127 {
		panic("ber: too long for the short form")
	}
	return append([]byte{tag, byte(len(c))}, c...)
}

// ldapServer reads one LDAP message, records it, answers resp and then
// records the next message (the unbind), if any.
func ldapServer(t *testing.T, resp []byte, got chan<- [][]byte) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		var msgs [][]byte
		defer func() {
			if got != nil {
				got <- msgs
			}
		}()
		for range 2 {
			buf := make([]byte, 2)
			if _, err := br.Read(buf[:1]); err != nil {
				return
			}
			if _, err := br.Read(buf[1:]); err != nil {
				return
			}
			rest := make([]byte, buf[1])
			if _, err := br.Read(rest); err != nil && len(rest) > 0 {
				return
			}
			msgs = append(msgs, append(buf, rest...))
			if len(msgs) == 1 {
				c.Write(resp)
			}
		}
	}
}

func TestProbeLDAP(t *testing.T) {
	l := model.Check{Kind: "ldap"}
	serve := func(resp []byte) func(net.Conn) { return ldapServer(t, resp, nil) }
	runProbeCases(t, []probeCase{
		{name: "success", target: listen(t, serve(ldapSuccess)), check: l,
			healthy: true, reason: "ldap: bind: success"},
		{name: "long form lengths", target: listen(t, serve(ldapSuccessLongForm)), check: l,
			healthy: true, reason: "ldap: bind: success"},
		{name: "controls", target: listen(t, serve(ldapSuccessControls)), check: l,
			healthy: true, reason: "ldap: bind: success"},
		{name: "anonymous refused", target: listen(t, serve(ldapInappropriate)), check: l,
			reason: `ldap: bind: result 48 (inappropriateAuthentication): "anonymous bind disallowed by policy"`},
		{name: "notice of disconnection", target: listen(t, serve(ldapNotice)), check: l,
			reason: `ldap: notice of disconnection: result 52 (unavailable)`},
		{name: "wrong message ID", target: listen(t, serve(ldapWrongID)), check: l,
			reason: `ldap: malformed bind response: messageID 7 with protocolOp tag 0x61, not a BindResponse`},
		{name: "not a bind response", target: listen(t, serve(ldapSearchDone)), check: l,
			reason: `ldap: malformed bind response: messageID 1 with protocolOp tag 0x65, not a BindResponse`},
		{name: "cut after resultCode", target: listen(t, serve(ldapNoDiag)), check: l,
			reason: `ldap: malformed bind response: no matchedDN`},
		{name: "inner length overrun", target: listen(t, serve(ldapInnerOverrun)), check: l,
			reason: `ldap: malformed bind response: protocolOp: element of 127 bytes in 7`},
		{name: "indefinite length", target: listen(t, serve([]byte{0x30, 0x80, 0x02, 0x01, 0x01, 0, 0})), check: l,
			reason: `ldap: indefinite length, which LDAP forbids`},
		{name: "huge length", target: listen(t, serve([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff})), check: l,
			reason: `ldap: message of 2147483647 bytes, more than 65536`},
		{name: "http", target: listen(t, serve([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))), check: l,
			reason: `ldap: response is no LDAP message: "HTTP/1.1 400 Bad Request"`},
		{name: "message cut short", target: listen(t, serve(ldapSuccess[:8])), check: l,
			// the server keeps the connection open: the rest never comes
			timeout: shortTimeout, reason: `ldap: reading bind response: timed out`},
		{name: "closed", target: listen(t, func(c net.Conn) { c.Read(make([]byte, 64)) }), check: l,
			reason: `ldap: reading bind response: connection closed`},
		{name: "silent", target: listen(t, silent), check: l, timeout: shortTimeout,
			reason: `ldap: reading bind response: timed out`},
		{name: "refused", target: refused(t), check: l,
			reason: `connect: connection refused`},
	})
}

// TestProbeLDAPWire pins the bind and unbind on the wire.
func TestProbeLDAPWire(t *testing.T) {
	got := make(chan [][]byte, 1)
	addr := listen(t, ldapServer(t, ldapSuccess, got))
	if r := Probe(t.Context(), addr, model.Check{Kind: "ldap", Timeout: testTimeout}); !r.Healthy {
		t.Fatalf("Probe() = %+v", r)
	}
	want := [][]byte{ldapBindRequest, ldapUnbindRequest}
	if diff := cmp.Diff(want, recv(t, got)); diff != "" {
		t.Errorf("messages sent (-want +got):\n%s", diff)
	}
}

func TestParseBindResponse(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
		want ldapResult
		err  string
	}{
		{"success", ldapSuccess, ldapResult{}, ""},
		{"refused", ldapInappropriate, ldapResult{code: 48, diag: "anonymous bind disallowed by policy"}, ""},
		{"notice", ldapNotice, ldapResult{code: 52, notice: true}, ""},
		{"empty", []byte{0x30, 0x00}, ldapResult{}, "messageID: element cut short"},
		{"negative id", []byte{0x30, 0x03, 0x02, 0x01, 0xff}, ldapResult{}, "messageID: negative integer"},
		{"long id", []byte{0x30, 0x07, 0x02, 0x05, 1, 2, 3, 4, 5}, ldapResult{}, "messageID: integer of 5 bytes"},
		{"multi-byte tag", []byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x7f, 0x00}, ldapResult{}, "protocolOp: multi-byte tag 0x7f"},
		{"length of 5 bytes", []byte{0x30, 0x08, 0x02, 0x01, 0x01, 0x61, 0x85, 0, 0, 0, 0, 1}, ldapResult{}, "protocolOp: length of 5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(bytes.NewReader(tc.msg))
			msg, err := readBERMessage(br, maxLDAPMessage)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseBindResponse(msg)
			if errString(err) != tc.err {
				t.Fatalf("error = %v, want %q", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(ldapResult{})); diff != "" {
				t.Errorf("parseBindResponse() (-want +got):\n%s", diff)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

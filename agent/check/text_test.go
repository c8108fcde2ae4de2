package check

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/droverha/drover/model"
)

func TestProbeText(t *testing.T) {
	smtpOK := map[string]string{"EHLO": "250-mx.example.com\r\n250 PIPELINING\r\n", "QUIT": "221 bye\r\n"}
	garbage := "garbage " + strings.Repeat("x", 100) + "\r\n"
	check := func(kind string) model.Check { return model.Check{Kind: kind} }
	cases := []probeCase{
		// smtp
		{name: "smtp/good", target: listen(t, says("220 mx.example.com ESMTP\r\n", smtpOK)), check: check("smtp"),
			healthy: true, reason: `smtp: greeting "220 mx.example.com ESMTP"`},
		{name: "smtp/multiline greeting", target: listen(t, says("220-mx.example.com\r\n220-more\r\n220 ready\r\n", smtpOK)), check: check("smtp"),
			healthy: true, reason: `smtp: greeting "220-mx.example.com"`},
		{name: "smtp/helo fallback", target: listen(t, says("220 old\r\n", map[string]string{"EHLO": "502 no\r\n", "HELO": "250 old\r\n"})), check: check("smtp"),
			healthy: true, reason: `smtp: greeting "220 old"`},
		{name: "smtp/bad greeting", target: listen(t, says("554 go away\r\n", smtpOK)), check: check("smtp"),
			reason: `smtp: greeting "554 go away" is not 220`},
		{name: "smtp/ehlo refused", target: listen(t, says("220 mx\r\n", map[string]string{"EHLO": "550 not you\r\n"})), check: check("smtp"),
			reason: `smtp: EHLO reply "550 not you" is not 250`},
		{name: "smtp/ehlo garbage", target: listen(t, says("220 mx\r\n", map[string]string{"EHLO": "hello there\r\n"})), check: check("smtp"),
			reason: `smtp: unexpected EHLO reply "hello there"`},
		{name: "smtp/garbage", target: listen(t, says(garbage, nil)), check: check("smtp"),
			reason: `smtp: unexpected greeting "garbage xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"...`},
		{name: "smtp/garbage without newline", target: listen(t, says("\x00\x01binary", nil)), check: check("smtp"),
			// the server keeps the connection: the line never ends
			timeout: shortTimeout, reason: `smtp: reading greeting: timed out`},
		{name: "smtp/unterminated then closed", target: listen(t, func(c net.Conn) { c.Write([]byte("220 cut")) }), check: check("smtp"),
			reason: `smtp: unexpected greeting "220 cut"`},
		{name: "smtp/multiline cut short", target: listen(t, func(c net.Conn) { c.Write([]byte("220-a\r\n220-b\r\n")) }), check: check("smtp"),
			reason: `smtp: reading greeting: connection closed`},
		{name: "smtp/closed", target: listen(t, func(net.Conn) {}), check: check("smtp"),
			reason: `smtp: reading greeting: connection closed`},
		{name: "smtp/silent", target: listen(t, silent), check: check("smtp"), timeout: shortTimeout,
			reason: `smtp: reading greeting: timed out`},
		{name: "smtp/refused", target: refused(t), check: check("smtp"),
			reason: `connect: connection refused`},
		{name: "smtp/long line", target: listen(t, says("220 "+strings.Repeat("a", 2000)+"\r\n", smtpOK)), check: check("smtp"),
			reason: `smtp: greeting: line longer than 1024 bytes: "220 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"...`},

		// ftp
		{name: "ftp/good", target: listen(t, says("220 ProFTPD\r\n", map[string]string{"QUIT": "221 bye\r\n"})), check: check("ftp"),
			healthy: true, reason: `ftp: greeting "220 ProFTPD"`},
		{name: "ftp/multiline with free text", target: listen(t, says("220-Welcome\r\n  rules apply\r\n220 ok\r\n", nil)), check: check("ftp"),
			healthy: true, reason: `ftp: greeting "220-Welcome"`},
		{name: "ftp/not ready", target: listen(t, says("421 too many users\r\n", nil)), check: check("ftp"),
			reason: `ftp: greeting "421 too many users" is not 220`},
		{name: "ftp/garbage", target: listen(t, says("SSH-2.0-OpenSSH_9.6\r\n", nil)), check: check("ftp"),
			reason: `ftp: unexpected greeting "SSH-2.0-OpenSSH_9.6"`},

		// nntp
		{name: "nntp/200", target: listen(t, says("200 news ready\r\n", map[string]string{"QUIT": "205 bye\r\n"})), check: check("nntp"),
			healthy: true, reason: `nntp: greeting "200 news ready"`},
		{name: "nntp/201", target: listen(t, says("201 read only\r\n", nil)), check: check("nntp"),
			healthy: true, reason: `nntp: greeting "201 read only"`},
		{name: "nntp/400", target: listen(t, says("400 service unavailable\r\n", nil)), check: check("nntp"),
			reason: `nntp: greeting "400 service unavailable" is not 200 or 201`},
		{name: "nntp/garbage", target: listen(t, says("20x\r\n", nil)), check: check("nntp"),
			reason: `nntp: unexpected greeting "20x"`},

		// pop3
		{name: "pop3/good", target: listen(t, says("+OK dovecot ready\r\n", map[string]string{"QUIT": "+OK bye\r\n"})), check: check("pop3"),
			healthy: true, reason: `pop3: greeting "+OK dovecot ready"`},
		{name: "pop3/err", target: listen(t, says("-ERR go away\r\n", nil)), check: check("pop3"),
			reason: `pop3: greeting "-ERR go away" is not +OK`},
		{name: "pop3/garbage", target: listen(t, says("* OK imap\r\n", nil)), check: check("pop3"),
			reason: `pop3: unexpected greeting "* OK imap"`},
		{name: "pop3/silent", target: listen(t, silent), check: check("pop3"), timeout: shortTimeout,
			reason: `pop3: reading greeting: timed out`},

		// imap
		{name: "imap/ok", target: listen(t, says("* OK [CAPABILITY IMAP4rev2] ready\r\n", map[string]string{"A1 LOGOUT": "* BYE\r\na1 OK done\r\n"})), check: check("imap"),
			healthy: true, reason: `imap: greeting "* OK [CAPABILITY IMAP4rev2] ready"`},
		{name: "imap/preauth", target: listen(t, says("* PREAUTH welcome\r\n", nil)), check: check("imap"),
			healthy: true, reason: `imap: greeting "* PREAUTH welcome"`},
		{name: "imap/bye", target: listen(t, says("* BYE overloaded\r\n", nil)), check: check("imap"),
			reason: `imap: greeting "* BYE overloaded" is not * OK`},
		{name: "imap/garbage", target: listen(t, says("+OK pop3\r\n", nil)), check: check("imap"),
			reason: `imap: unexpected greeting "+OK pop3"`},
		{name: "imap/refused", target: refused(t), check: check("imap"),
			reason: `connect: connection refused`},
	}
	runProbeCases(t, cases)
}

// TestProbeTextConversation pins what the probes send, so a real server
// sees a clean session.
func TestProbeTextConversation(t *testing.T) {
	for _, tc := range []struct {
		kind, greeting string
		want           []string
	}{
		{"smtp", "220 mx\r\n", []string{"EHLO ", "QUIT"}},
		{"ftp", "220 ftp\r\n", []string{"QUIT"}},
		{"pop3", "+OK\r\n", []string{"QUIT"}},
		{"nntp", "200 news\r\n", []string{"QUIT"}},
		{"imap", "* OK\r\n", []string{"a1 LOGOUT"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			lines := make(chan string, 10)
			inner := says(tc.greeting, map[string]string{"EHLO": "250 ok\r\n", "QUIT": "221 bye\r\n", "A1": "a1 OK\r\n"})
			addr := listen(t, func(c net.Conn) {
				inner(recorder{c, lines})
				close(lines)
			})
			ctx := t.Context()
			if r := Probe(ctx, addr, model.Check{Kind: tc.kind, Timeout: testTimeout}); !r.Healthy {
				t.Fatalf("Probe() = %+v, want healthy", r)
			}
			var got []string
			for l := range lines {
				got = append(got, l)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("sent %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) || !strings.HasSuffix(got[i], "\r\n") {
					t.Errorf("line %d = %q, want %q... ending in CRLF", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// recorder passes each line read from the client to lines.
type recorder struct {
	net.Conn
	lines chan<- string
}

func (r recorder) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	if n > 0 {
		for l := range strings.SplitAfterSeq(string(b[:n]), "\n") {
			if l != "" {
				r.lines <- l
			}
		}
	}
	return n, err
}

func TestProbePortOverride(t *testing.T) {
	addr := listen(t, says("220 ftp\r\n", nil))
	target := netip.AddrPortFrom(addr.Addr(), 1) // nothing listens on port 1
	runProbeCases(t, []probeCase{
		{name: "override", target: target, check: model.Check{Kind: "ftp", Port: addr.Port()},
			healthy: true, reason: `ftp: greeting "220 ftp"`},
		{name: "tcp", target: target, check: model.Check{Kind: "tcp", Port: addr.Port()},
			healthy: true, reason: `tcp: connected`},
		{name: "tcp refused", target: refused(t), check: model.Check{Kind: "tcp"},
			reason: `connect: connection refused`},
		{name: "empty kind is tcp", target: target, check: model.Check{Port: addr.Port()},
			healthy: true, reason: `tcp: connected`},
		{name: "none", target: target, check: model.Check{Kind: "none"},
			healthy: true, reason: `none: not probed`},
		{name: "unknown kind", target: target, check: model.Check{Kind: "gopher"},
			reason: `unknown check kind "gopher"`},
	})
}

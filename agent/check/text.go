package check

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/droverha/drover/model"
)

// maxReplyLines bounds a multi-line reply: a real server's greeting is a
// few lines, a stream of continuation lines is garbage.
const maxReplyLines = 100

// textProber holds the line-based protocols, where a healthy server greets
// first: SMTP (RFC 5321), FTP (RFC 959), NNTP (RFC 3977), POP3 (RFC 1939)
// and IMAP (RFC 9051). Each probe reads the greeting, for SMTP also asks
// EHLO, and says goodbye so the server logs a clean session instead of a
// dropped one.
type textProber struct {
	addr string
	kind string
	helo string // SMTP: our name in EHLO
	br   *bufio.Reader
}

func newTextProber(addr netip.AddrPort, c model.Check) prober {
	p := &textProber{addr: addr.String(), kind: c.Kind}
	if c.Kind == KindSMTP {
		// RFC 5321 §4.1.1.1 wants our domain name, or an address literal
		// when we have none.
		p.helo = "localhost"
		if h, err := os.Hostname(); err == nil && validHelo(h) {
			p.helo = h
		}
	}
	return p
}

func validHelo(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f })
}

func (p *textProber) probe(ctx context.Context) Result {
	start := time.Now()
	conn, r, ok := dial(ctx, "tcp", p.addr)
	if !ok {
		return r
	}
	defer conn.Close()
	if p.br == nil {
		p.br = bufio.NewReaderSize(conn, 1024)
	} else {
		p.br.Reset(conn)
	}
	defer p.br.Reset(nil)

	greeting, r, ok := readGreeting(p.kind, p.br)
	if !ok {
		return r
	}

	if p.kind == KindSMTP {
		if r, ok := p.ehlo(conn); !ok {
			return r
		}
	}
	latency := time.Since(start) // the verdict; saying goodbye is not part of it
	p.quit(conn)
	return Result{Healthy: true, Reason: p.kind + ": greeting " + quote(greeting), Latency: latency}
}

// readGreeting reads and judges the greeting of a kind of server. A good
// one is returned, copied out of br's buffer; a bad one is a Result.
func readGreeting(kind string, br *bufio.Reader) (greeting []byte, r Result, ok bool) {
	fail := func(format string, args ...any) (_ []byte, _ Result, ok bool) {
		return nil, Result{Reason: kind + ": " + fmt.Sprintf(format, args...)}, false
	}
	var err error
	switch kind {
	case KindSMTP, KindFTP, KindNNTP:
		var rep reply
		rep, err = readReply(br)
		greeting = rep.line
		if err == nil && !(rep.code == 220 || (kind == KindNNTP && (rep.code == 200 || rep.code == 201))) {
			want := "220"
			if kind == KindNNTP {
				want = "200 or 201"
			}
			return fail("greeting %s is not %s", quote(rep.line), want)
		}
	case KindPOP3:
		greeting, err = readLine(br)
		switch {
		case err != nil, bytes.HasPrefix(greeting, []byte("+OK")):
		case bytes.HasPrefix(greeting, []byte("-ERR")):
			return fail("greeting %s is not +OK", quote(greeting))
		default:
			err = errGarbage
		}
	case KindIMAP:
		greeting, err = readLine(br)
		if err == nil {
			switch imapGreeting(greeting) {
			case "OK", "PREAUTH":
			case "BYE":
				return fail("greeting %s is not * OK", quote(greeting))
			default:
				err = errGarbage
			}
		}
	default:
		return fail("no greeting known")
	}
	if err != nil {
		return nil, replyError(kind, "greeting", greeting, err), false
	}
	// greeting points into br's buffer, which the next reads overwrite.
	return bytes.Clone(trimTo(greeting, 64)), Result{}, true
}

// replyError words a failed read of what (greeting, EHLO reply): garbage
// is quoted, a network failure named.
func replyError(kind, what string, got []byte, err error) Result {
	var pe protoError
	switch {
	case errors.Is(err, errGarbage), errors.Is(err, errUnterminated):
	case errors.As(err, &pe):
		return Result{Reason: kind + ": " + what + ": " + pe.Error()}
	default:
		return Result{Reason: kind + ": reading " + what + ": " + errReason(err)}
	}
	return Result{Reason: fmt.Sprintf("%s: unexpected %s %s", kind, what, quote(got))}
}

// ehlo asks EHLO and wants 250; a server too old for EHLO (500-504) is
// asked HELO instead (RFC 5321 §3.2).
func (p *textProber) ehlo(conn io.Writer) (Result, bool) {
	verb := "EHLO"
	for {
		if _, err := io.WriteString(conn, verb+" "+p.helo+"\r\n"); err != nil {
			return Result{Reason: p.kind + ": sending " + verb + ": " + errReason(err)}, false
		}
		rep, err := readReply(p.br)
		if err != nil {
			return replyError(p.kind, verb+" reply", rep.line, err), false
		}
		switch {
		case rep.code == 250:
			return Result{}, true
		case verb == "EHLO" && rep.code >= 500 && rep.code <= 504:
			verb = "HELO"
		default:
			return Result{Reason: fmt.Sprintf("%s: %s reply %s is not 250", p.kind, verb, quote(rep.line))}, false
		}
	}
}

// quit says goodbye and reads the answer, whatever it is, so the server
// closes first; the verdict is already made.
func (p *textProber) quit(conn io.Writer) {
	cmd := "QUIT\r\n"
	if p.kind == KindIMAP {
		cmd = "a1 LOGOUT\r\n"
	}
	if _, err := io.WriteString(conn, cmd); err != nil {
		return
	}
	if p.kind != KindIMAP {
		readLine(p.br)
		return
	}
	// "* BYE ..." then "a1 OK ...".
	for range 5 {
		line, err := readLine(p.br)
		if err != nil || bytes.HasPrefix(line, []byte("a1 ")) {
			return
		}
	}
}

// reply is an answer in the numbered style of SMTP (RFC 5321 §4.2), FTP
// (RFC 959 §4.2) and NNTP (RFC 3977 §3.2): a three-digit code; a multi-line
// reply has '-' after the code on its first line and ends with a line
// that starts with the code and a space.
type reply struct {
	code int
	line []byte // the first line, for reasons; valid until br's next read
}

// readReply reads one numbered reply. A first line with no code is a
// protoError with the line in reply.line. FTP allows any text on the lines
// between the first and the last, so only the last is checked.
func readReply(br *bufio.Reader) (reply, error) {
	line, err := readLine(br)
	if err == errUnterminated {
		return reply{line: line}, errGarbage
	}
	if err != nil {
		return reply{}, err
	}
	code, sep, ok := replyCode(line)
	if !ok || sep == '-' && len(line) == 3 {
		return reply{line: line}, errGarbage
	}
	// line is only valid until the next read: keep a copy for the reason.
	rep := reply{code: code, line: bytes.Clone(trimTo(line, 64))}
	if sep != '-' {
		return rep, nil
	}
	for range maxReplyLines {
		next, err := readLine(br)
		if err == errUnterminated {
			return rep, protoErrorf("reply cut short: %s", quote(next))
		}
		if err != nil {
			return rep, err
		}
		if c, sep, ok := replyCode(next); ok && c == code && sep != '-' {
			return rep, nil
		}
	}
	return rep, protoErrorf("reply longer than %d lines", maxReplyLines)
}

// errGarbage is text that is no reply of the protocol at all; the caller
// quotes it.
var errGarbage = protoError("garbage")

// replyCode parses "ddd", "ddd text" or "ddd-text".
func replyCode(line []byte) (code int, sep byte, ok bool) {
	if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
		return 0, 0, false
	}
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		code = code*10 + int(c-'0')
	}
	if line[0] < '1' || line[0] > '5' {
		return 0, 0, false
	}
	if len(line) > 3 {
		sep = line[3]
	}
	return code, sep, true
}

// imapGreeting returns the status of an untagged greeting ("* OK ...",
// "* PREAUTH ...", "* BYE ...", RFC 9051 §7.1), or "" for anything else.
func imapGreeting(line []byte) string {
	rest, ok := bytes.CutPrefix(line, []byte("* "))
	if !ok {
		return ""
	}
	word, _, _ := bytes.Cut(rest, []byte(" "))
	for _, s := range []string{"OK", "PREAUTH", "BYE"} {
		if asciiEqualFold(word, strings.ToLower(s)) {
			return s
		}
	}
	return ""
}

func trimTo(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

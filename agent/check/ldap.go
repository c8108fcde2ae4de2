package check

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxLDAPMessage bounds the response read. A BindResponse is a few dozen
// bytes; a length field claiming more is garbage or hostile.
const maxLDAPMessage = 64 << 10

// ldapBindRequest is an LDAPv3 anonymous simple bind (RFC 4511 §4.2) in BER
// (X.690), written out by hand — no LDAP library is needed for one fixed
// message:
//
//	30 0c             LDAPMessage SEQUENCE, 12 bytes
//	   02 01 01       messageID 1
//	   60 07          [APPLICATION 0] BindRequest
//	      02 01 03    version 3
//	      04 00       name ""
//	      80 00       authentication: simple [0] ""
var ldapBindRequest = []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00}

// ldapUnbindRequest is messageID 2, [APPLICATION 2] UnbindRequest NULL
// (RFC 4511 §4.3): the polite end of the session.
var ldapUnbindRequest = []byte{0x30, 0x05, 0x02, 0x01, 0x02, 0x42, 0x00}

// BER tags used (X.690 §8.1.2; LDAP uses only low tag numbers).
const (
	berInteger     = 0x02
	berOctetString = 0x04
	berEnumerated  = 0x0a
	berSequence    = 0x30
	ldapBindResp   = 0x61 // [APPLICATION 1] constructed
	ldapExtResp    = 0x78 // [APPLICATION 24] constructed
)

type ldapProber struct {
	addr string
	br   *bufio.Reader
}

// probe binds anonymously and wants resultCode success. A server that
// refuses anonymous binds (inappropriateAuthentication, 48) is answering,
// but this check cannot tell it from a broken one, so it counts as down;
// such a server wants a tcp or exec check.
func (p *ldapProber) probe(ctx context.Context) Result {
	conn, r, ok := dial(ctx, "tcp", p.addr)
	if !ok {
		return r
	}
	defer conn.Close()
	if _, err := conn.Write(ldapBindRequest); err != nil {
		return Result{Reason: "ldap: sending bind: " + errReason(err)}
	}
	if p.br == nil {
		p.br = bufio.NewReaderSize(conn, 512)
	} else {
		p.br.Reset(conn)
	}
	defer p.br.Reset(nil)
	msg, err := readBERMessage(p.br, maxLDAPMessage)
	if err != nil {
		var pe protoError
		if errors.As(err, &pe) {
			return Result{Reason: "ldap: " + pe.Error()}
		}
		return Result{Reason: "ldap: reading bind response: " + errReason(err)}
	}
	res, err := parseBindResponse(msg)
	if err != nil {
		return Result{Reason: "ldap: malformed bind response: " + err.Error()}
	}
	if res.notice {
		return Result{Reason: "ldap: notice of disconnection: " + res.String()}
	}
	if res.code != 0 {
		return Result{Reason: "ldap: bind: " + res.String()}
	}
	conn.Write(ldapUnbindRequest)
	return Result{Healthy: true, Reason: "ldap: bind: success"}
}

// readBERMessage reads one BER element that must be a SEQUENCE (an
// LDAPMessage) of at most max content bytes and returns its content. Only
// the definite length form is accepted, as RFC 4511 §5.1 requires.
func readBERMessage(br *bufio.Reader, max int) ([]byte, error) {
	tag, err := br.ReadByte()
	if err != nil {
		return nil, err
	}
	if tag != berSequence {
		br.UnreadByte()
		got, _ := br.Peek(min(br.Buffered(), 40))
		return nil, protoErrorf("response is no LDAP message: %s", quote(got))
	}
	first, err := br.ReadByte()
	if err != nil {
		return nil, err
	}
	n := int(first)
	switch {
	case first == 0x80:
		return nil, protoError("indefinite length, which LDAP forbids")
	case first > 0x84:
		return nil, protoErrorf("length of %d bytes", first&0x7f)
	case first > 0x80:
		n = 0
		for range int(first & 0x7f) {
			b, err := br.ReadByte()
			if err != nil {
				return nil, err
			}
			n = n<<8 | int(b)
		}
	}
	if n < 0 || n > max {
		return nil, protoErrorf("message of %d bytes, more than %d", n, max)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(br, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// berNext splits the first element (tag, content) off b. Tags are one
// byte; lengths definite, in at most 4 bytes.
func berNext(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errors.New("element cut short")
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, fmt.Errorf("multi-byte tag %#02x", tag)
	}
	n, b := int(b[1]), b[2:]
	switch {
	case n == 0x80:
		return 0, nil, nil, errors.New("indefinite length")
	case n > 0x84:
		return 0, nil, nil, fmt.Errorf("length of %d bytes", n&0x7f)
	case n > 0x80:
		k := n & 0x7f
		if len(b) < k {
			return 0, nil, nil, errors.New("length cut short")
		}
		n = 0
		for _, c := range b[:k] {
			n = n<<8 | int(c)
		}
		b = b[k:]
	}
	if n < 0 || n > len(b) {
		return 0, nil, nil, fmt.Errorf("element of %d bytes in %d", n, len(b))
	}
	return tag, b[:n], b[n:], nil
}

// berInt decodes a non-negative INTEGER or ENUMERATED of up to 4 bytes.
func berInt(content []byte) (int, error) {
	if len(content) == 0 || len(content) > 4 {
		return 0, fmt.Errorf("integer of %d bytes", len(content))
	}
	if content[0]&0x80 != 0 {
		return 0, errors.New("negative integer")
	}
	n := 0
	for _, c := range content {
		n = n<<8 | int(c)
	}
	return n, nil
}

// ldapResult is what a bind answered.
type ldapResult struct {
	code   int
	diag   string // diagnosticMessage
	notice bool   // a Notice of Disconnection (RFC 4511 §4.4.1), not a BindResponse
}

func (r ldapResult) String() string {
	s := "result " + strconv.Itoa(r.code)
	if name, ok := ldapResultNames[r.code]; ok {
		s += " (" + name + ")"
	}
	if r.diag != "" {
		s += ": " + quote([]byte(r.diag))
	}
	return s
}

// ldapResultNames are the resultCodes of RFC 4511 §4.1.9 a bind may
// plausibly answer.
var ldapResultNames = map[int]string{
	0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded",
	7: "authMethodNotSupported", 8: "strongerAuthRequired", 11: "adminLimitExceeded",
	13: "confidentialityRequired", 48: "inappropriateAuthentication",
	49: "invalidCredentials", 50: "insufficientAccessRights", 51: "busy",
	52: "unavailable", 53: "unwillingToPerform", 80: "other",
}

// parseBindResponse decodes the content of the LDAPMessage answering our
// bind (RFC 4511 §4.2.2):
//
//	messageID 1, BindResponse [APPLICATION 1] { resultCode ENUMERATED,
//	matchedDN, diagnosticMessage, [referral], [serverSaslCreds] }, [controls]
//
// or a Notice of Disconnection: messageID 0, ExtendedResponse
// [APPLICATION 24] with the same leading LDAPResult.
func parseBindResponse(msg []byte) (ldapResult, error) {
	tag, content, rest, err := berNext(msg)
	if err != nil {
		return ldapResult{}, fmt.Errorf("messageID: %w", err)
	}
	if tag != berInteger {
		return ldapResult{}, fmt.Errorf("messageID has tag %#02x", tag)
	}
	id, err := berInt(content)
	if err != nil {
		return ldapResult{}, fmt.Errorf("messageID: %w", err)
	}
	tag, op, _, err := berNext(rest) // controls, if any, are not read
	if err != nil {
		return ldapResult{}, fmt.Errorf("protocolOp: %w", err)
	}
	var res ldapResult
	switch {
	case id == 1 && tag == ldapBindResp:
	case id == 0 && tag == ldapExtResp:
		res.notice = true
	default:
		return ldapResult{}, fmt.Errorf("messageID %d with protocolOp tag %#02x, not a BindResponse", id, tag)
	}
	tag, content, op, err = berNext(op)
	if err != nil || tag != berEnumerated {
		return ldapResult{}, errors.New("no resultCode")
	}
	if res.code, err = berInt(content); err != nil {
		return ldapResult{}, fmt.Errorf("resultCode: %w", err)
	}
	// matchedDN, then diagnosticMessage: a reason when the bind failed.
	if tag, _, op, err = berNext(op); err != nil || tag != berOctetString {
		return ldapResult{}, errors.New("no matchedDN")
	}
	if tag, content, _, err = berNext(op); err != nil || tag != berOctetString {
		return ldapResult{}, errors.New("no diagnosticMessage")
	}
	res.diag = string(trimTo(content, 200))
	return res, nil
}

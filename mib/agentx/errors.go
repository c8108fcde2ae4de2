package agentx

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed is matched (errors.Is) by every decoding error: short or
	// trailing bytes, bad lengths, unknown PDU or value types, a version
	// other than 1.
	ErrMalformed = errors.New("malformed agentx pdu")

	// ErrSessionClosed is returned by calls on a session that has ended.
	ErrSessionClosed = errors.New("agentx session closed")

	// ErrClosedByMaster is the session's error after the master agent sent
	// a Close PDU.
	ErrClosedByMaster = errors.New("agentx session closed by the master agent")
)

// MalformedPDUError is returned by ReadPDU when the header was read and
// the payload consumed but the payload could not be decoded (or the type is
// unknown). The stream is still framed, so a session can answer the PDU
// with parseError and go on.
type MalformedPDUError struct {
	Header Header
	Err    error // wraps ErrMalformed
}

func (e *MalformedPDUError) Error() string {
	return fmt.Sprintf("pdu type %d packet %d: %v", e.Header.Type, e.Header.PacketID, e.Err)
}

func (e *MalformedPDUError) Unwrap() error { return e.Err }

// ResponseError is returned when the master agent answers a request with a
// non-zero res.error.
type ResponseError struct {
	Request Type
	Status  ErrorStatus
	Index   uint16
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("agentx %s refused: %s (index %d)", e.Request, e.Status, e.Index)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

package agentx

import (
	"encoding/binary"
	"fmt"
	"io"
)

// HeaderLen is the size of the fixed AgentX header (RFC 2741 §6.1).
const HeaderLen = 20

// Version is the only AgentX protocol version.
const Version = 1

// Type is h.type, the PDU type (RFC 2741 §6.1).
type Type uint8

// PDU types of RFC 2741 §6.1.
const (
	TypeOpen            Type = 1
	TypeClose           Type = 2
	TypeRegister        Type = 3
	TypeUnregister      Type = 4
	TypeGet             Type = 5
	TypeGetNext         Type = 6
	TypeGetBulk         Type = 7
	TypeTestSet         Type = 8
	TypeCommitSet       Type = 9
	TypeUndoSet         Type = 10
	TypeCleanupSet      Type = 11
	TypeNotify          Type = 12
	TypePing            Type = 13
	TypeIndexAllocate   Type = 14
	TypeIndexDeallocate Type = 15
	TypeAddAgentCaps    Type = 16
	TypeRemoveAgentCaps Type = 17
	TypeResponse        Type = 18
)

var typeNames = [...]string{"", "Open", "Close", "Register", "Unregister", "Get",
	"GetNext", "GetBulk", "TestSet", "CommitSet", "UndoSet", "CleanupSet", "Notify",
	"Ping", "IndexAllocate", "IndexDeallocate", "AddAgentCaps", "RemoveAgentCaps",
	"Response"}

func (t Type) String() string {
	if t >= 1 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Flags is h.flags (RFC 2741 §6.1).
type Flags uint8

// Header flags.
const (
	FlagInstanceRegistration Flags = 1 << 0
	FlagNewIndex             Flags = 1 << 1
	FlagAnyIndex             Flags = 1 << 2
	FlagNonDefaultContext    Flags = 1 << 3
	FlagNetworkByteOrder     Flags = 1 << 4
)

// Header is the fixed header every PDU starts with. PayloadLength is set
// by decoding; encoding computes it.
type Header struct {
	Version       uint8
	Type          Type
	Flags         Flags
	SessionID     uint32
	TransactionID uint32
	PacketID      uint32
	PayloadLength uint32
}

// ErrorStatus is res.error of a Response (RFC 2741 §6.2.16): SNMP error
// statuses (RFC 3416) and AgentX's own from 256 up.
type ErrorStatus uint16

// Error statuses.
const (
	NoError               ErrorStatus = 0
	TooBig                ErrorStatus = 1
	NoSuchName            ErrorStatus = 2
	BadValue              ErrorStatus = 3
	ReadOnly              ErrorStatus = 4
	GenErr                ErrorStatus = 5
	NoAccess              ErrorStatus = 6
	WrongType             ErrorStatus = 7
	WrongLength           ErrorStatus = 8
	WrongEncoding         ErrorStatus = 9
	WrongValue            ErrorStatus = 10
	NoCreation            ErrorStatus = 11
	InconsistentValue     ErrorStatus = 12
	ResourceUnavailable   ErrorStatus = 13
	CommitFailed          ErrorStatus = 14
	UndoFailed            ErrorStatus = 15
	AuthorizationError    ErrorStatus = 16
	NotWritable           ErrorStatus = 17
	InconsistentName      ErrorStatus = 18
	OpenFailed            ErrorStatus = 256
	NotOpen               ErrorStatus = 257
	IndexWrongType        ErrorStatus = 258
	IndexAlreadyAllocated ErrorStatus = 259
	IndexNoneAvailable    ErrorStatus = 260
	IndexNotAllocated     ErrorStatus = 261
	UnsupportedContext    ErrorStatus = 262
	DuplicateRegistration ErrorStatus = 263
	UnknownRegistration   ErrorStatus = 264
	UnknownAgentCaps      ErrorStatus = 265
	ParseError            ErrorStatus = 266
	RequestDenied         ErrorStatus = 267
	ProcessingError       ErrorStatus = 268
)

var statusNames = map[ErrorStatus]string{
	NoError: "noError", TooBig: "tooBig", NoSuchName: "noSuchName", BadValue: "badValue",
	ReadOnly: "readOnly", GenErr: "genErr", NoAccess: "noAccess", WrongType: "wrongType",
	WrongLength: "wrongLength", WrongEncoding: "wrongEncoding", WrongValue: "wrongValue",
	NoCreation: "noCreation", InconsistentValue: "inconsistentValue",
	ResourceUnavailable: "resourceUnavailable", CommitFailed: "commitFailed",
	UndoFailed: "undoFailed", AuthorizationError: "authorizationError",
	NotWritable: "notWritable", InconsistentName: "inconsistentName",
	OpenFailed: "openFailed", NotOpen: "notOpen", IndexWrongType: "indexWrongType",
	IndexAlreadyAllocated: "indexAlreadyAllocated", IndexNoneAvailable: "indexNoneAvailable",
	IndexNotAllocated: "indexNotAllocated", UnsupportedContext: "unsupportedContext",
	DuplicateRegistration: "duplicateRegistration", UnknownRegistration: "unknownRegistration",
	UnknownAgentCaps: "unknownAgentCaps", ParseError: "parseError",
	RequestDenied: "requestDenied", ProcessingError: "processingError",
}

func (s ErrorStatus) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("ErrorStatus(%d)", uint16(s))
}

// CloseReason is c.reason of a Close PDU (RFC 2741 §6.2.2).
type CloseReason uint8

// Close reasons.
const (
	ReasonOther         CloseReason = 1
	ReasonParseError    CloseReason = 2
	ReasonProtocolError CloseReason = 3
	ReasonTimeouts      CloseReason = 4
	ReasonShutdown      CloseReason = 5
	ReasonByManager     CloseReason = 6
)

// PDU is one of the PDU types below (*Open, *Close, ... *Response).
type PDU interface {
	// PDUHeader returns the PDU's header for reading or setting its IDs.
	PDUHeader() *Header
	pduType() Type
	appendPayload(b []byte) ([]byte, error)
}

// Open is agentx-Open-PDU (§6.2.1).
type Open struct {
	Header
	Timeout     uint8 // seconds; 0: the master's default
	ID          OID
	Description []byte
}

// Close is agentx-Close-PDU (§6.2.2).
type Close struct {
	Header
	Reason CloseReason
}

// Register is agentx-Register-PDU (§6.2.3). UpperBound is on the wire only
// when RangeSubID is not zero. A nil Context is the default context.
type Register struct {
	Header
	Context    []byte
	Timeout    uint8
	Priority   uint8
	RangeSubID uint8
	Subtree    OID
	UpperBound uint32
}

// Unregister is agentx-Unregister-PDU (§6.2.4).
type Unregister struct {
	Header
	Context    []byte
	Priority   uint8
	RangeSubID uint8
	Subtree    OID
	UpperBound uint32
}

// Get is agentx-Get-PDU (§6.2.5); the ranges' End OIDs are null.
type Get struct {
	Header
	Context []byte
	Ranges  []SearchRange
}

// GetNext is agentx-GetNext-PDU (§6.2.6).
type GetNext struct {
	Header
	Context []byte
	Ranges  []SearchRange
}

// GetBulk is agentx-GetBulk-PDU (§6.2.7).
type GetBulk struct {
	Header
	Context        []byte
	NonRepeaters   uint16
	MaxRepetitions uint16
	Ranges         []SearchRange
}

// TestSet is agentx-TestSet-PDU (§6.2.8).
type TestSet struct {
	Header
	Context  []byte
	VarBinds []VarBind
}

// CommitSet is agentx-CommitSet-PDU (§6.2.9): a header only.
type CommitSet struct{ Header }

// UndoSet is agentx-UndoSet-PDU (§6.2.9): a header only.
type UndoSet struct{ Header }

// CleanupSet is agentx-CleanupSet-PDU (§6.2.9): a header only.
type CleanupSet struct{ Header }

// Notify is agentx-Notify-PDU (§6.2.10). VarBinds start with sysUpTime.0
// (optional) and snmpTrapOID.0.
type Notify struct {
	Header
	Context  []byte
	VarBinds []VarBind
}

// Ping is agentx-Ping-PDU (§6.2.11).
type Ping struct {
	Header
	Context []byte
}

// IndexAllocate is agentx-IndexAllocate-PDU (§6.2.12).
type IndexAllocate struct {
	Header
	Context  []byte
	VarBinds []VarBind
}

// IndexDeallocate is agentx-IndexDeallocate-PDU (§6.2.13).
type IndexDeallocate struct {
	Header
	Context  []byte
	VarBinds []VarBind
}

// AddAgentCaps is agentx-AddAgentCaps-PDU (§6.2.14).
type AddAgentCaps struct {
	Header
	Context     []byte
	ID          OID
	Description []byte
}

// RemoveAgentCaps is agentx-RemoveAgentCaps-PDU (§6.2.15).
type RemoveAgentCaps struct {
	Header
	Context []byte
	ID      OID
}

// Response is agentx-Response-PDU (§6.2.16). Index is 1-based into the
// request's varbinds, 0 when the error is not about one.
type Response struct {
	Header
	SysUpTime uint32
	Error     ErrorStatus
	Index     uint16
	VarBinds  []VarBind
}

// PDUHeader returns h; every PDU type embeds Header and so has it.
func (h *Header) PDUHeader() *Header { return h }

func (*Open) pduType() Type            { return TypeOpen }
func (*Close) pduType() Type           { return TypeClose }
func (*Register) pduType() Type        { return TypeRegister }
func (*Unregister) pduType() Type      { return TypeUnregister }
func (*Get) pduType() Type             { return TypeGet }
func (*GetNext) pduType() Type         { return TypeGetNext }
func (*GetBulk) pduType() Type         { return TypeGetBulk }
func (*TestSet) pduType() Type         { return TypeTestSet }
func (*CommitSet) pduType() Type       { return TypeCommitSet }
func (*UndoSet) pduType() Type         { return TypeUndoSet }
func (*CleanupSet) pduType() Type      { return TypeCleanupSet }
func (*Notify) pduType() Type          { return TypeNotify }
func (*Ping) pduType() Type            { return TypePing }
func (*IndexAllocate) pduType() Type   { return TypeIndexAllocate }
func (*IndexDeallocate) pduType() Type { return TypeIndexDeallocate }
func (*AddAgentCaps) pduType() Type    { return TypeAddAgentCaps }
func (*RemoveAgentCaps) pduType() Type { return TypeRemoveAgentCaps }
func (*Response) pduType() Type        { return TypeResponse }

// context returns the PDU's context field, for the PDU types that carry
// one (RFC 2741 §6.1.1).
func pduContext(p PDU) (ctx []byte, has bool) {
	switch p := p.(type) {
	case *Register:
		return p.Context, true
	case *Unregister:
		return p.Context, true
	case *Get:
		return p.Context, true
	case *GetNext:
		return p.Context, true
	case *GetBulk:
		return p.Context, true
	case *TestSet:
		return p.Context, true
	case *Notify:
		return p.Context, true
	case *Ping:
		return p.Context, true
	case *IndexAllocate:
		return p.Context, true
	case *IndexDeallocate:
		return p.Context, true
	case *AddAgentCaps:
		return p.Context, true
	case *RemoveAgentCaps:
		return p.Context, true
	}
	return nil, false
}

// AppendPDU appends p's encoding in network byte order to b. The header's
// Version, Type and PayloadLength are computed; FlagNetworkByteOrder is
// set, and FlagNonDefaultContext is set exactly when the PDU has a non-nil
// Context.
func AppendPDU(b []byte, p PDU) ([]byte, error) {
	h := p.PDUHeader()
	flags := h.Flags | FlagNetworkByteOrder
	ctx, hasCtx := pduContext(p)
	flags &^= FlagNonDefaultContext
	if hasCtx && ctx != nil {
		flags |= FlagNonDefaultContext
	}
	start := len(b)
	b = append(b, Version, byte(p.pduType()), byte(flags), 0)
	b = appendU32(b, h.SessionID)
	b = appendU32(b, h.TransactionID)
	b = appendU32(b, h.PacketID)
	b = appendU32(b, 0)
	if flags&FlagNonDefaultContext != 0 {
		b = appendOctets(b, ctx)
	}
	b, err := p.appendPayload(b)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", p.pduType(), err)
	}
	binary.BigEndian.PutUint32(b[start+16:], uint32(len(b)-start-HeaderLen))
	return b, nil
}

// MarshalPDU returns p's encoding; see AppendPDU.
func MarshalPDU(p PDU) ([]byte, error) { return AppendPDU(nil, p) }

// DecodeHeader decodes the 20-byte header at the start of b.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, malformed("header of %d bytes", len(b))
	}
	h := Header{Version: b[0], Type: Type(b[1]), Flags: Flags(b[2])}
	if h.Version != Version {
		return h, malformed("version %d", h.Version)
	}
	var o binary.ByteOrder = binary.LittleEndian
	if h.Flags&FlagNetworkByteOrder != 0 {
		o = binary.BigEndian
	}
	h.SessionID = o.Uint32(b[4:])
	h.TransactionID = o.Uint32(b[8:])
	h.PacketID = o.Uint32(b[12:])
	h.PayloadLength = o.Uint32(b[16:])
	return h, nil
}

// UnmarshalPDU decodes exactly one PDU from b, in either byte order.
func UnmarshalPDU(b []byte) (PDU, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	if uint64(h.PayloadLength) != uint64(len(b)-HeaderLen) {
		return nil, malformed("payload length %d, have %d bytes", h.PayloadLength, len(b)-HeaderLen)
	}
	return decodePayload(h, b[HeaderLen:])
}

// ReadPDU reads one PDU from r: exactly the header and the payload it
// announces, so the next call starts at the next PDU. A payload longer
// than maxLen bytes is refused before it is read (the stream can then not
// be resynchronised). When the payload was read but cannot be decoded the
// error is a *MalformedPDUError and r stays framed.
func ReadPDU(r io.Reader, maxLen uint32) (PDU, error) {
	var hb [HeaderLen]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("reading header: %w", malformed("truncated header"))
		}
		return nil, err // io.EOF between PDUs is a clean end
	}
	h, err := DecodeHeader(hb[:])
	if err != nil {
		return nil, err
	}
	if h.PayloadLength > maxLen {
		return nil, malformed("payload length %d exceeds the limit %d", h.PayloadLength, maxLen)
	}
	payload := make([]byte, h.PayloadLength)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %s payload of %d bytes: %w", h.Type, h.PayloadLength, err)
	}
	p, err := decodePayload(h, payload)
	if err != nil {
		return nil, &MalformedPDUError{Header: h, Err: err}
	}
	return p, nil
}

func decodePayload(h Header, payload []byte) (PDU, error) {
	d := &decoder{b: payload, order: binary.LittleEndian}
	if h.Flags&FlagNetworkByteOrder != 0 {
		d.order = binary.BigEndian
	}
	ctx := func() []byte {
		if h.Flags&FlagNonDefaultContext == 0 {
			return nil
		}
		c := d.octets()
		if c == nil {
			c = []byte{}
		}
		return c
	}
	var p PDU
	switch h.Type {
	case TypeOpen:
		o := &Open{Header: h}
		o.Timeout = d.u8()
		d.skip(3)
		o.ID = d.oid(nil)
		o.Description = d.octets()
		p = o
	case TypeClose:
		c := &Close{Header: h}
		c.Reason = CloseReason(d.u8())
		d.skip(3)
		p = c
	case TypeRegister:
		r := &Register{Header: h, Context: ctx()}
		r.Timeout = d.u8()
		r.Priority = d.u8()
		r.RangeSubID = d.u8()
		d.skip(1)
		r.Subtree = d.oid(nil)
		if r.RangeSubID != 0 {
			r.UpperBound = d.u32()
			if d.err == nil && int(r.RangeSubID) > len(r.Subtree) {
				d.fail("range_subid %d beyond a subtree of %d sub-identifiers", r.RangeSubID, len(r.Subtree))
			}
		}
		p = r
	case TypeUnregister:
		u := &Unregister{Header: h, Context: ctx()}
		d.skip(1)
		u.Priority = d.u8()
		u.RangeSubID = d.u8()
		d.skip(1)
		u.Subtree = d.oid(nil)
		if u.RangeSubID != 0 {
			u.UpperBound = d.u32()
			if d.err == nil && int(u.RangeSubID) > len(u.Subtree) {
				d.fail("range_subid %d beyond a subtree of %d sub-identifiers", u.RangeSubID, len(u.Subtree))
			}
		}
		p = u
	case TypeGet:
		g := &Get{Header: h, Context: ctx()}
		g.Ranges = d.searchRanges()
		p = g
	case TypeGetNext:
		g := &GetNext{Header: h, Context: ctx()}
		g.Ranges = d.searchRanges()
		p = g
	case TypeGetBulk:
		g := &GetBulk{Header: h, Context: ctx()}
		g.NonRepeaters = d.u16()
		g.MaxRepetitions = d.u16()
		g.Ranges = d.searchRanges()
		p = g
	case TypeTestSet:
		t := &TestSet{Header: h, Context: ctx()}
		t.VarBinds = d.varBinds()
		p = t
	case TypeCommitSet:
		p = &CommitSet{Header: h}
	case TypeUndoSet:
		p = &UndoSet{Header: h}
	case TypeCleanupSet:
		p = &CleanupSet{Header: h}
	case TypeNotify:
		n := &Notify{Header: h, Context: ctx()}
		n.VarBinds = d.varBinds()
		p = n
	case TypePing:
		p = &Ping{Header: h, Context: ctx()}
	case TypeIndexAllocate:
		a := &IndexAllocate{Header: h, Context: ctx()}
		a.VarBinds = d.varBinds()
		p = a
	case TypeIndexDeallocate:
		a := &IndexDeallocate{Header: h, Context: ctx()}
		a.VarBinds = d.varBinds()
		p = a
	case TypeAddAgentCaps:
		a := &AddAgentCaps{Header: h, Context: ctx()}
		a.ID = d.oid(nil)
		a.Description = d.octets()
		p = a
	case TypeRemoveAgentCaps:
		a := &RemoveAgentCaps{Header: h, Context: ctx()}
		a.ID = d.oid(nil)
		p = a
	case TypeResponse:
		r := &Response{Header: h}
		r.SysUpTime = d.u32()
		r.Error = ErrorStatus(d.u16())
		r.Index = d.u16()
		r.VarBinds = d.varBinds()
		p = r
	default:
		return nil, malformed("unknown pdu type %d", uint8(h.Type))
	}
	if d.err != nil {
		return nil, fmt.Errorf("decoding %s: %w", h.Type, d.err)
	}
	if len(d.b) != 0 {
		return nil, malformed("decoding %s: %d trailing bytes", h.Type, len(d.b))
	}
	return p, nil
}

func (p *Open) appendPayload(b []byte) ([]byte, error) {
	b = append(b, p.Timeout, 0, 0, 0)
	b, err := appendOID(b, p.ID, false)
	if err != nil {
		return nil, err
	}
	return appendOctets(b, p.Description), nil
}

func (p *Close) appendPayload(b []byte) ([]byte, error) {
	return append(b, byte(p.Reason), 0, 0, 0), nil
}

func (p *Register) appendPayload(b []byte) ([]byte, error) {
	b = append(b, p.Timeout, p.Priority, p.RangeSubID, 0)
	return appendSubtree(b, p.Subtree, p.RangeSubID, p.UpperBound)
}

func (p *Unregister) appendPayload(b []byte) ([]byte, error) {
	b = append(b, 0, p.Priority, p.RangeSubID, 0)
	return appendSubtree(b, p.Subtree, p.RangeSubID, p.UpperBound)
}

func appendSubtree(b []byte, subtree OID, rangeSubID uint8, upper uint32) ([]byte, error) {
	if int(rangeSubID) > len(subtree) {
		return nil, fmt.Errorf("range_subid %d beyond subtree %s", rangeSubID, subtree)
	}
	b, err := appendOID(b, subtree, false)
	if err != nil {
		return nil, err
	}
	if rangeSubID != 0 {
		b = appendU32(b, upper)
	}
	return b, nil
}

func (p *Get) appendPayload(b []byte) ([]byte, error)     { return appendRanges(b, p.Ranges) }
func (p *GetNext) appendPayload(b []byte) ([]byte, error) { return appendRanges(b, p.Ranges) }

func (p *GetBulk) appendPayload(b []byte) ([]byte, error) {
	b = appendU16(b, p.NonRepeaters)
	b = appendU16(b, p.MaxRepetitions)
	return appendRanges(b, p.Ranges)
}

func (p *TestSet) appendPayload(b []byte) ([]byte, error) { return appendVarBinds(b, p.VarBinds) }
func (*CommitSet) appendPayload(b []byte) ([]byte, error) { return b, nil }
func (*UndoSet) appendPayload(b []byte) ([]byte, error)   { return b, nil }
func (*CleanupSet) appendPayload(b []byte) ([]byte, error) {
	return b, nil
}
func (p *Notify) appendPayload(b []byte) ([]byte, error) { return appendVarBinds(b, p.VarBinds) }
func (*Ping) appendPayload(b []byte) ([]byte, error)     { return b, nil }
func (p *IndexAllocate) appendPayload(b []byte) ([]byte, error) {
	return appendVarBinds(b, p.VarBinds)
}
func (p *IndexDeallocate) appendPayload(b []byte) ([]byte, error) {
	return appendVarBinds(b, p.VarBinds)
}

func (p *AddAgentCaps) appendPayload(b []byte) ([]byte, error) {
	b, err := appendOID(b, p.ID, false)
	if err != nil {
		return nil, err
	}
	return appendOctets(b, p.Description), nil
}

func (p *RemoveAgentCaps) appendPayload(b []byte) ([]byte, error) {
	return appendOID(b, p.ID, false)
}

func (p *Response) appendPayload(b []byte) ([]byte, error) {
	b = appendU32(b, p.SysUpTime)
	b = appendU16(b, uint16(p.Error))
	b = appendU16(b, p.Index)
	return appendVarBinds(b, p.VarBinds)
}

func appendRanges(b []byte, rs []SearchRange) ([]byte, error) {
	var err error
	for _, r := range rs {
		if b, err = appendOID(b, r.Start, r.Include); err != nil {
			return nil, err
		}
		if b, err = appendOID(b, r.End, false); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendVarBinds(b []byte, vbs []VarBind) ([]byte, error) {
	var err error
	for _, vb := range vbs {
		if b, err = appendVarBind(b, vb); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// appendOID encodes o per RFC 2741 §5.1, compressing the internet prefix
// 1.3.6.1.x (x in 1..255) into the prefix byte.
func appendOID(b []byte, o OID, include bool) ([]byte, error) {
	if len(o) > MaxSubIDs {
		return nil, fmt.Errorf("oid of %d sub-identifiers, more than %d", len(o), MaxSubIDs)
	}
	var prefix uint8
	subs := o
	if len(o) >= 5 && o[0] == 1 && o[1] == 3 && o[2] == 6 && o[3] == 1 && o[4] >= 1 && o[4] <= 255 {
		prefix = uint8(o[4])
		subs = o[5:]
	}
	inc := byte(0)
	if include {
		inc = 1
	}
	b = append(b, byte(len(subs)), prefix, inc, 0)
	for _, s := range subs {
		b = appendU32(b, s)
	}
	return b, nil
}

// appendOctets encodes an Octet String (§5.3): length, octets, zero
// padding to a multiple of four.
func appendOctets(b []byte, s []byte) []byte {
	b = appendU32(b, uint32(len(s)))
	b = append(b, s...)
	for i := len(s); i%4 != 0; i++ {
		b = append(b, 0)
	}
	return b
}

// decoder reads fields in one byte order; the first error sticks and
// later reads return zero values.
type decoder struct {
	b     []byte
	order binary.ByteOrder
	err   error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = malformed(format, args...)
	}
	d.b = nil
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("need %d bytes, have %d", n, len(d.b))
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) skip(n int) { d.take(n) }

func (d *decoder) u8() uint8 {
	if s := d.take(1); s != nil {
		return s[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if s := d.take(2); s != nil {
		return d.order.Uint16(s)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if s := d.take(4); s != nil {
		return d.order.Uint32(s)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if s := d.take(8); s != nil {
		return d.order.Uint64(s)
	}
	return 0
}

// oid decodes an OID and, when include is not nil, its include byte.
func (d *decoder) oid(include *bool) OID {
	hdr := d.take(4)
	if hdr == nil {
		return nil
	}
	n, prefix := int(hdr[0]), hdr[1]
	if include != nil {
		*include = hdr[2] != 0
	}
	total := n
	if prefix != 0 {
		total += 5
	}
	if total > MaxSubIDs {
		d.fail("oid of %d sub-identifiers, more than %d", total, MaxSubIDs)
		return nil
	}
	if total == 0 {
		return nil
	}
	raw := d.take(4 * n)
	if raw == nil && n > 0 {
		return nil
	}
	o := make(OID, 0, total)
	if prefix != 0 {
		o = append(o, 1, 3, 6, 1, uint32(prefix))
	}
	for i := 0; i < n; i++ {
		o = append(o, d.order.Uint32(raw[4*i:]))
	}
	return o
}

func (d *decoder) octets() []byte {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.fail("octet string of %d bytes, have %d", n, len(d.b))
		return nil
	}
	padded := (uint64(n) + 3) &^ 3
	if padded > uint64(len(d.b)) {
		d.fail("octet string padding: need %d bytes, have %d", padded, len(d.b))
		return nil
	}
	s := d.take(int(padded))
	if n == 0 {
		return nil
	}
	return append([]byte(nil), s[:n]...)
}

func (d *decoder) searchRanges() []SearchRange {
	var rs []SearchRange
	for len(d.b) > 0 && d.err == nil {
		var r SearchRange
		r.Start = d.oid(&r.Include)
		r.End = d.oid(nil)
		if d.err == nil {
			rs = append(rs, r)
		}
	}
	return rs
}

func (d *decoder) varBinds() []VarBind {
	var vbs []VarBind
	for len(d.b) > 0 && d.err == nil {
		vb := d.varBind()
		if d.err == nil {
			vbs = append(vbs, vb)
		}
	}
	return vbs
}

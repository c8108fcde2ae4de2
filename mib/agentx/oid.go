package agentx

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxSubIDs is the most sub-identifiers an OID may have (RFC 2578 §3.5).
const MaxSubIDs = 128

// OID is an object identifier, one uint32 per sub-identifier. The nil OID
// is the null OID of RFC 2741 §5.1.
type OID []uint32

// ParseOID parses dotted decimal ("1.3.6.1.2.1", a leading dot allowed).
func ParseOID(s string) (OID, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) > MaxSubIDs {
		return nil, fmt.Errorf("parsing oid %q: %d sub-identifiers, more than %d", s, len(parts), MaxSubIDs)
	}
	o := make(OID, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parsing oid %q: %w", s, err)
		}
		o[i] = uint32(v)
	}
	return o, nil
}

// MustParseOID is ParseOID for constants; it panics on a bad OID.
func MustParseOID(s string) OID {
	o, err := ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// String renders dotted decimal without a leading dot.
func (o OID) String() string {
	var b strings.Builder
	for i, v := range o {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// Compare orders OIDs lexicographically by sub-identifier (a prefix sorts
// before its extensions): -1, 0 or +1.
func (o OID) Compare(p OID) int {
	return slices.Compare(o, p)
}

// Equal reports whether o and p have the same sub-identifiers.
func (o OID) Equal(p OID) bool { return slices.Equal(o, p) }

// HasPrefix reports whether o is prefix or lies below it.
func (o OID) HasPrefix(prefix OID) bool {
	return len(o) >= len(prefix) && slices.Equal(o[:len(prefix)], prefix)
}

// Append returns a new OID: o followed by subs. o is not modified.
func (o OID) Append(subs ...uint32) OID {
	r := make(OID, 0, len(o)+len(subs))
	return append(append(r, o...), subs...)
}

// SearchRange is the search range of RFC 2741 §5.2: the objects from Start
// (itself included when Include is set) up to but excluding End; a null End
// means no upper bound.
type SearchRange struct {
	Start   OID
	Include bool
	End     OID
}

func (r SearchRange) String() string {
	open := "("
	if r.Include {
		open = "["
	}
	end := "∞"
	if len(r.End) > 0 {
		end = r.End.String()
	}
	return open + r.Start.String() + ", " + end + ")"
}

// InRange reports whether oid lies in r: after Start (or at it when
// Include is set) and, when End is not null, before End.
func InRange(oid OID, r SearchRange) bool {
	c := oid.Compare(r.Start)
	if c < 0 || (c == 0 && !r.Include) {
		return false
	}
	return len(r.End) == 0 || oid.Compare(r.End) < 0
}

package agentx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func addVectorSeeds(f *testing.F) {
	for _, v := range vectors {
		f.Add(hx(v.wire))
	}
	f.Add(hx(`01 13 10 00 00000007 00000001 00000001 00000000`))
	f.Add(hx(`01 05 00 00 07000000 0a000000 0b000000 08000000 00040000 00000000`))
}

// FuzzReadPDU: any stream is framed or refused, never a panic; whatever
// decodes re-encodes to a PDU that decodes the same.
func FuzzReadPDU(f *testing.F) {
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for range 8 {
			p, err := ReadPDU(r, 1<<16)
			if err != nil {
				var me *MalformedPDUError
				if errors.As(err, &me) {
					continue // framed: the next PDU is still readable
				}
				if err != io.EOF && !errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			enc, err := MarshalPDU(p)
			if err != nil {
				t.Fatalf("re-encoding %T: %v", p, err)
			}
			back, err := UnmarshalPDU(enc)
			if err != nil {
				t.Fatalf("decoding re-encoded %T: %v", p, err)
			}
			// The re-encoding is network order with a recomputed length.
			h := *back.PDUHeader()
			*p.PDUHeader() = h
			if diff := cmp.Diff(p, back, cmpOpts...); diff != "" {
				t.Fatalf("re-encoded (-first +second):\n%s", diff)
			}
		}
	})
}

// FuzzDecodeVarBind: one varbind in either byte order.
func FuzzDecodeVarBind(f *testing.F) {
	f.Add(hx(`0002 0000 03 00 00 00 00000001 00000002 00000001 ffffffff`), true)
	f.Add(hx(`0004 0000 03 00 00 00 00000001 00000002 00000002 00000005 68656c6c 6f000000`), true)
	f.Add(hx(`0040 0000 00 00 00 00 00000004 c0000201`), true)
	f.Add(hx(`4600 0000 02 04 00 00 01000000 9f860100 0807060504030201`), false)
	f.Add(hx(`0600 0000 00 00 00 00 02 04 00 00 01000000 9f860100`), false)
	f.Add(hx(`0082 0000 00 00 00 00`), true)
	f.Fuzz(func(t *testing.T, b []byte, big bool) {
		d := &decoder{b: b, order: binary.LittleEndian}
		if big {
			d.order = binary.BigEndian
		}
		vb := d.varBind()
		if d.err != nil {
			if !errors.Is(d.err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", d.err)
			}
			return
		}
		enc, err := appendVarBind(nil, vb)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", vb, err)
		}
		d2 := &decoder{b: enc, order: binary.BigEndian}
		back := d2.varBind()
		if d2.err != nil || len(d2.b) != 0 {
			t.Fatalf("decoding re-encoded: %v, %d left", d2.err, len(d2.b))
		}
		if diff := cmp.Diff(vb, back, cmpOpts...); diff != "" {
			t.Fatalf("(-first +second):\n%s", diff)
		}
	})
}

// FuzzParseOID: parsed OIDs print back to what parses the same.
func FuzzParseOID(f *testing.F) {
	for _, s := range []string{"1.3.6.1.4.1.99999", ".1.3", "", "1..2", "4294967295.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOID(s)
		if err != nil {
			return
		}
		back, err := ParseOID(o.String())
		if err != nil || !back.Equal(o) {
			t.Fatalf("%q -> %s -> %v, %v", s, o, back, err)
		}
	})
}

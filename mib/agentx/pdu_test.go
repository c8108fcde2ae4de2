package agentx

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// hx turns a hand-written hex dump into bytes. Everything after a '#' on a
// line is a comment; spaces and newlines are ignored.
func hx(s string) []byte {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		b.WriteString(strings.Join(strings.Fields(line), ""))
	}
	out, err := hex.DecodeString(b.String())
	if err != nil {
		panic(err)
	}
	return out
}

var cmpOpts = []cmp.Option{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

func mustOID(s string) OID { return MustParseOID(s) }

// nbo is the flags byte of a PDU we encode: NETWORK_BYTE_ORDER.
const nbo = FlagNetworkByteOrder

// vectors are written by hand from the layouts of RFC 2741 §6, in network
// byte order. Each decodes to its PDU and the PDU encodes to exactly it.
var vectors = []struct {
	name string
	wire string
	pdu  PDU
}{
	{"Open", `
		01 01 10 00  # version 1, Open, NETWORK_BYTE_ORDER, reserved
		00000000     # sessionID (none yet)
		00000001     # transactionID
		00000001     # packetID
		0000001c     # payload length 28
		05 000000    # o.timeout 5 s, reserved
		02 04 00 00  # o.id: 2 sub-ids after prefix 1.3.6.1.4, include 0
		00000001 0001869f  # .1.99999
		00000006 6472 6f76 6572 0000  # o.descr "drover", padded to 8`,
		&Open{Header: Header{Version: 1, Type: TypeOpen, Flags: nbo, TransactionID: 1, PacketID: 1, PayloadLength: 28},
			Timeout: 5, ID: mustOID("1.3.6.1.4.1.99999"), Description: []byte("drover")}},
	{"Close", `
		01 02 10 00 00000007 00000002 00000002 00000004
		05 000000    # c.reason reasonShutdown`,
		&Close{Header: Header{Version: 1, Type: TypeClose, Flags: nbo, SessionID: 7, TransactionID: 2, PacketID: 2, PayloadLength: 4},
			Reason: ReasonShutdown}},
	{"Register", `
		01 03 10 00 00000007 00000003 00000003 00000014
		00 7f 00 00  # r.timeout 0, r.priority 127, r.range_subid 0, reserved
		03 04 00 00 00000001 0001869f 00000001  # r.subtree 1.3.6.1.4.1.99999.1`,
		&Register{Header: Header{Version: 1, Type: TypeRegister, Flags: nbo, SessionID: 7, TransactionID: 3, PacketID: 3, PayloadLength: 20},
			Priority: 127, Subtree: mustOID("1.3.6.1.4.1.99999.1")}},
	{"Register range, context, instance", `
		01 03 19 00  # flags INSTANCE_REGISTRATION|NON_DEFAULT_CONTEXT|NETWORK_BYTE_ORDER
		00000007 00000004 00000004 00000024
		00000004 63747831  # context "ctx1"
		0a 7f 08 00  # r.timeout 10, priority 127, range_subid 8
		04 04 00 00 00000001 0001869f 00000001 00000005  # 1.3.6.1.4.1.99999.1.5
		00000009     # r.upper_bound: .1.5 up to .1.9`,
		&Register{Header: Header{Version: 1, Type: TypeRegister, Flags: nbo | FlagInstanceRegistration | FlagNonDefaultContext,
			SessionID: 7, TransactionID: 4, PacketID: 4, PayloadLength: 36},
			Context: []byte("ctx1"), Timeout: 10, Priority: 127, RangeSubID: 8, Subtree: mustOID("1.3.6.1.4.1.99999.1.5"), UpperBound: 9}},
	{"Unregister", `
		01 04 10 00 00000007 00000005 00000005 00000014
		00 7f 00 00  # reserved, u.priority 127, u.range_subid 0, reserved
		03 04 00 00 00000001 0001869f 00000001`,
		&Unregister{Header: Header{Version: 1, Type: TypeUnregister, Flags: nbo, SessionID: 7, TransactionID: 5, PacketID: 5, PayloadLength: 20},
			Priority: 127, Subtree: mustOID("1.3.6.1.4.1.99999.1")}},
	{"Get with two search ranges", `
		01 05 10 00 00000007 0000000a 0000000a 00000034
		05 04 00 00 00000001 0001869f 00000001 00000001 00000000  # 1.3.6.1.4.1.99999.1.1.0
		00 00 00 00  # end: null
		04 02 00 00 00000001 00000001 00000001 00000000  # 1.3.6.1.2.1.1.1.0
		00 00 00 00  # end: null`,
		&Get{Header: Header{Version: 1, Type: TypeGet, Flags: nbo, SessionID: 7, TransactionID: 10, PacketID: 10, PayloadLength: 52},
			Ranges: []SearchRange{{Start: mustOID("1.3.6.1.4.1.99999.1.1.0")}, {Start: mustOID("1.3.6.1.2.1.1.1.0")}}}},
	{"GetNext", `
		01 06 10 00 00000007 0000000b 0000000b 00000030
		02 04 01 00 00000001 0001869f           # start 1.3.6.1.4.1.99999, include 1
		03 04 00 00 00000001 0001869f 00000002  # end 1.3.6.1.4.1.99999.2
		03 00 00 00 00000001 00000002 00000003  # start 1.2.3: no internet prefix
		00 00 00 00                             # end null: no bound`,
		&GetNext{Header: Header{Version: 1, Type: TypeGetNext, Flags: nbo, SessionID: 7, TransactionID: 11, PacketID: 11, PayloadLength: 48},
			Ranges: []SearchRange{
				{Start: mustOID("1.3.6.1.4.1.99999"), Include: true, End: mustOID("1.3.6.1.4.1.99999.2")},
				{Start: mustOID("1.2.3")},
			}}},
	{"GetBulk", `
		01 07 10 00 00000007 0000000c 0000000c 00000030
		0001 0002    # g.non_repeaters 1, g.max_repetitions 2
		03 02 00 00 00000001 00000001 00000003  00000000  # 1.3.6.1.2.1.1.3, null
		04 04 00 00 00000001 0001869f 00000001 00000002 00000000  # 1.3.6.1.4.1.99999.1.2, null`,
		&GetBulk{Header: Header{Version: 1, Type: TypeGetBulk, Flags: nbo, SessionID: 7, TransactionID: 12, PacketID: 12, PayloadLength: 48},
			NonRepeaters: 1, MaxRepetitions: 2,
			Ranges: []SearchRange{{Start: mustOID("1.3.6.1.2.1.1.3")}, {Start: mustOID("1.3.6.1.4.1.99999.1.2")}}}},
	{"TestSet", `
		01 08 10 00 00000007 0000000d 0000000d 00000020
		0002 0000    # v.type Integer, reserved
		05 04 00 00 00000001 0001869f 00000001 00000001 00000000  # name 1.3.6.1.4.1.99999.1.1.0
		0000002a     # 42`,
		&TestSet{Header: Header{Version: 1, Type: TypeTestSet, Flags: nbo, SessionID: 7, TransactionID: 13, PacketID: 13, PayloadLength: 32},
			VarBinds: []VarBind{Integer(mustOID("1.3.6.1.4.1.99999.1.1.0"), 42)}}},
	{"CommitSet", `01 09 10 00 00000007 0000000d 0000000e 00000000`,
		&CommitSet{Header{Version: 1, Type: TypeCommitSet, Flags: nbo, SessionID: 7, TransactionID: 13, PacketID: 14}}},
	{"UndoSet", `01 0a 10 00 00000007 0000000d 0000000f 00000000`,
		&UndoSet{Header{Version: 1, Type: TypeUndoSet, Flags: nbo, SessionID: 7, TransactionID: 13, PacketID: 15}}},
	{"CleanupSet", `01 0b 10 00 00000007 0000000d 00000010 00000000`,
		&CleanupSet{Header{Version: 1, Type: TypeCleanupSet, Flags: nbo, SessionID: 7, TransactionID: 13, PacketID: 16}}},
	{"Notify", `
		01 0c 10 00 00000007 00000006 00000006 00000050
		0043 0000 04 02 00 00 00000001 00000001 00000003 00000000  # TimeTicks sysUpTime.0
		00000064     # 100
		0006 0000 06 06 00 00 00000003 00000001 00000001 00000004 00000001 00000000  # OID snmpTrapOID.0
		04 04 00 00 00000001 0001869f 00000000 00000001  # 1.3.6.1.4.1.99999.0.1`,
		&Notify{Header: Header{Version: 1, Type: TypeNotify, Flags: nbo, SessionID: 7, TransactionID: 6, PacketID: 6, PayloadLength: 80},
			VarBinds: []VarBind{
				TimeTicks(mustOID("1.3.6.1.2.1.1.3.0"), 100),
				ObjectID(mustOID("1.3.6.1.6.3.1.1.4.1.0"), mustOID("1.3.6.1.4.1.99999.0.1")),
			}}},
	{"Ping with context", `
		01 0d 18 00 00000007 00000007 00000007 00000008
		00000003 707562 00  # context "pub", padded`,
		&Ping{Header: Header{Version: 1, Type: TypePing, Flags: nbo | FlagNonDefaultContext, SessionID: 7, TransactionID: 7, PacketID: 7, PayloadLength: 8},
			Context: []byte("pub")}},
	{"IndexAllocate", `
		01 0e 12 00  # NEW_INDEX|NETWORK_BYTE_ORDER
		00000007 00000008 00000008 00000020
		0002 0000 05 04 00 00 00000001 0001869f 00000001 00000003 00000001  # Integer 1.3.6.1.4.1.99999.1.3.1
		00000000`,
		&IndexAllocate{Header: Header{Version: 1, Type: TypeIndexAllocate, Flags: nbo | FlagNewIndex, SessionID: 7, TransactionID: 8, PacketID: 8, PayloadLength: 32},
			VarBinds: []VarBind{Integer(mustOID("1.3.6.1.4.1.99999.1.3.1"), 0)}}},
	{"IndexDeallocate", `
		01 0f 10 00 00000007 00000009 00000009 00000020
		0002 0000 05 04 00 00 00000001 0001869f 00000001 00000003 00000001
		00000003`,
		&IndexDeallocate{Header: Header{Version: 1, Type: TypeIndexDeallocate, Flags: nbo, SessionID: 7, TransactionID: 9, PacketID: 9, PayloadLength: 32},
			VarBinds: []VarBind{Integer(mustOID("1.3.6.1.4.1.99999.1.3.1"), 3)}}},
	{"AddAgentCaps", `
		01 10 10 00 00000007 00000010 00000010 00000018
		03 04 00 00 00000001 0001869f 00000002  # a.id 1.3.6.1.4.1.99999.2
		00000004 63617073  # a.descr "caps"`,
		&AddAgentCaps{Header: Header{Version: 1, Type: TypeAddAgentCaps, Flags: nbo, SessionID: 7, TransactionID: 16, PacketID: 16, PayloadLength: 24},
			ID: mustOID("1.3.6.1.4.1.99999.2"), Description: []byte("caps")}},
	{"RemoveAgentCaps", `
		01 11 10 00 00000007 00000011 00000011 00000010
		03 04 00 00 00000001 0001869f 00000002`,
		&RemoveAgentCaps{Header: Header{Version: 1, Type: TypeRemoveAgentCaps, Flags: nbo, SessionID: 7, TransactionID: 17, PacketID: 17, PayloadLength: 16},
			ID: mustOID("1.3.6.1.4.1.99999.2")}},
	{"Response error", `
		01 12 10 00 00000007 00000003 00000003 00000008
		00000064     # res.sysUpTime 100
		0107 0001    # res.error duplicateRegistration (263), res.index 1`,
		&Response{Header: Header{Version: 1, Type: TypeResponse, Flags: nbo, SessionID: 7, TransactionID: 3, PacketID: 3, PayloadLength: 8},
			SysUpTime: 100, Error: DuplicateRegistration, Index: 1}},
	{"Response with every value type", `
		01 12 10 00 00000007 0000000a 0000000a 0000014c
		00000000 0000 0000  # sysUpTime 0, noError, index 0
		0002 0000 03 00 00 00 00000001 00000002 00000001  ffffffff  # Integer 1.2.1 = -1
		0004 0000 03 00 00 00 00000001 00000002 00000002  00000005 68656c6c 6f000000  # OctetString "hello"
		0005 0000 03 00 00 00 00000001 00000002 00000003  # Null
		0006 0000 03 00 00 00 00000001 00000002 00000004  02 04 00 00 00000001 0001869f  # OID
		0040 0000 03 00 00 00 00000001 00000002 00000005  00000004 c0000201  # IpAddress 192.0.2.1
		0041 0000 03 00 00 00 00000001 00000002 00000006  00000007  # Counter32
		0042 0000 03 00 00 00 00000001 00000002 00000007  00000008  # Gauge32
		0043 0000 03 00 00 00 00000001 00000002 00000008  00000009  # TimeTicks
		0044 0000 03 00 00 00 00000001 00000002 00000009  00000003 010203 00  # Opaque
		0046 0000 03 00 00 00 00000001 00000002 0000000a  01020304 05060708  # Counter64
		0080 0000 03 00 00 00 00000001 00000002 0000000b  # noSuchObject
		0081 0000 03 00 00 00 00000001 00000002 0000000c  # noSuchInstance
		0082 0000 03 00 00 00 00000001 00000002 0000000d  # endOfMibView`,
		&Response{Header: Header{Version: 1, Type: TypeResponse, Flags: nbo, SessionID: 7, TransactionID: 10, PacketID: 10, PayloadLength: 332},
			VarBinds: []VarBind{
				Integer(mustOID("1.2.1"), -1),
				String(mustOID("1.2.2"), "hello"),
				Null(mustOID("1.2.3")),
				ObjectID(mustOID("1.2.4"), mustOID("1.3.6.1.4.1.99999")),
				IPAddress(mustOID("1.2.5"), netip.MustParseAddr("192.0.2.1")),
				Counter32(mustOID("1.2.6"), 7),
				Gauge32(mustOID("1.2.7"), 8),
				TimeTicks(mustOID("1.2.8"), 9),
				Opaque(mustOID("1.2.9"), []byte{1, 2, 3}),
				Counter64(mustOID("1.2.10"), 0x0102030405060708),
				NoSuchObject(mustOID("1.2.11")),
				NoSuchInstance(mustOID("1.2.12")),
				EndOfMibView(mustOID("1.2.13")),
			}}},
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			wire := hx(v.wire)
			got, err := UnmarshalPDU(wire)
			if err != nil {
				t.Fatalf("UnmarshalPDU: %v", err)
			}
			if diff := cmp.Diff(v.pdu, got, cmpOpts...); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			enc, err := MarshalPDU(v.pdu)
			if err != nil {
				t.Fatalf("MarshalPDU: %v", err)
			}
			if !bytes.Equal(enc, wire) {
				t.Errorf("encoded\n got %x\nwant %x", enc, wire)
			}
			read, err := ReadPDU(iotest.OneByteReader(bytes.NewReader(wire)), 1<<16)
			if err != nil {
				t.Fatalf("ReadPDU: %v", err)
			}
			if diff := cmp.Diff(v.pdu, read, cmpOpts...); diff != "" {
				t.Errorf("ReadPDU (-want +got):\n%s", diff)
			}
		})
	}
}

// Little-endian PDUs (NETWORK_BYTE_ORDER clear), written by hand: a
// master or subagent may send either order and we must decode both.
func TestDecodeLittleEndian(t *testing.T) {
	tests := []struct {
		name string
		wire string
		want PDU
	}{
		{"Get with two ranges", `
			01 05 00 00 07000000 0a000000 0b000000 34000000
			05 04 00 00 01000000 9f860100 01000000 01000000 00000000  # 1.3.6.1.4.1.99999.1.1.0
			00 00 00 00
			04 02 00 00 01000000 01000000 01000000 00000000  # 1.3.6.1.2.1.1.1.0
			00 00 00 00`,
			&Get{Header: Header{Version: 1, Type: TypeGet, SessionID: 7, TransactionID: 10, PacketID: 11, PayloadLength: 52},
				Ranges: []SearchRange{{Start: mustOID("1.3.6.1.4.1.99999.1.1.0")}, {Start: mustOID("1.3.6.1.2.1.1.1.0")}}}},
		{"Register with context and upper bound", `
			01 03 08 00 07000000 04000000 04000000 24000000
			04000000 63747831  # context "ctx1"
			0a 7f 08 00
			04 04 00 00 01000000 9f860100 01000000 05000000
			09000000`,
			&Register{Header: Header{Version: 1, Type: TypeRegister, Flags: FlagNonDefaultContext, SessionID: 7, TransactionID: 4, PacketID: 4, PayloadLength: 36},
				Context: []byte("ctx1"), Timeout: 10, Priority: 127, RangeSubID: 8, Subtree: mustOID("1.3.6.1.4.1.99999.1.5"), UpperBound: 9}},
		{"Response", `
			01 12 00 00 07000000 0a000000 0a000000 44000000
			64000000 0000 0000  # sysUpTime 100
			4600 0000 03 00 00 00 01000000 02000000 0a000000  0807060504030201  # Counter64
			0400 0000 03 00 00 00 01000000 02000000 02000000  05000000 68656c6c 6f000000  # "hello"`,
			&Response{Header: Header{Version: 1, Type: TypeResponse, SessionID: 7, TransactionID: 10, PacketID: 10, PayloadLength: 68},
				SysUpTime: 100, VarBinds: []VarBind{
					Counter64(mustOID("1.2.10"), 0x0102030405060708),
					String(mustOID("1.2.2"), "hello"),
				}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UnmarshalPDU(hx(tc.wire))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpOpts...); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOIDEncoding(t *testing.T) {
	tests := []struct {
		oid     string
		include bool
		wire    string
	}{
		{"", false, "00 00 00 00"}, // null OID
		{"1.3.6.1", false, "04 00 00 00 00000001 00000003 00000006 00000001"}, // too short for the prefix
		{"1.3.6.1.2", true, "00 02 01 00"},                                    // all prefix, include set
		{"1.3.6.1.0.7", false, "06 00 00 00 00000001 00000003 00000006 00000001 00000000 00000007"},
		{"1.3.6.1.256.7", false, "06 00 00 00 00000001 00000003 00000006 00000001 00000100 00000007"},
		{"1.3.6.1.255.7", false, "01 ff 00 00 00000007"},
	}
	for _, tc := range tests {
		t.Run(tc.oid, func(t *testing.T) {
			o := mustOID(tc.oid)
			got, err := appendOID(nil, o, tc.include)
			if err != nil {
				t.Fatal(err)
			}
			want := hx(tc.wire)
			if !bytes.Equal(got, want) {
				t.Errorf("got %x, want %x", got, want)
			}
			d := &decoder{b: want, order: binary.BigEndian}
			var inc bool
			back := d.oid(&inc)
			if d.err != nil || !back.Equal(o) || inc != tc.include || len(d.b) != 0 {
				t.Errorf("decoded %v include %v err %v", back, inc, d.err)
			}
		})
	}
	if _, err := appendOID(nil, make(OID, MaxSubIDs+1), false); err == nil {
		t.Error("encoded an OID of 129 sub-identifiers")
	}
}

// The three defects of the Go AgentX libraries we know of.
func TestKnownDefects(t *testing.T) {
	t.Run("every search range of a Get", func(t *testing.T) {
		p, err := UnmarshalPDU(hx(vectors[5].wire))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(p.(*Get).Ranges); n != 2 {
			t.Fatalf("decoded %d ranges, want 2", n)
		}
	})
	t.Run("framing across reads", func(t *testing.T) {
		var stream []byte
		var want []PDU
		for _, v := range vectors {
			stream = append(stream, hx(v.wire)...)
			want = append(want, v.pdu)
		}
		// Two PDUs in one read, and one split at every byte.
		for _, r := range []io.Reader{bytes.NewReader(stream), iotest.OneByteReader(bytes.NewReader(stream)), iotest.HalfReader(bytes.NewReader(stream))} {
			var got []PDU
			for {
				p, err := ReadPDU(r, 1<<16)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, p)
			}
			if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}
	})
	t.Run("unknown pdu type", func(t *testing.T) {
		stream := hx(`
			01 13 10 00 00000007 00000001 00000001 00000008  # type 19: none such
			deadbeef deadbeef
			01 0d 10 00 00000007 00000002 00000002 00000000  # a Ping after it`)
		r := bytes.NewReader(stream)
		_, err := ReadPDU(r, 1<<16)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v, want ErrMalformed", err)
		}
		var me *MalformedPDUError
		if !errors.As(err, &me) || me.Header.PacketID != 1 {
			t.Fatalf("err = %#v, want a *MalformedPDUError for packet 1", err)
		}
		p, err := ReadPDU(r, 1<<16)
		if err != nil {
			t.Fatalf("the stream lost its framing: %v", err)
		}
		if _, ok := p.(*Ping); !ok {
			t.Fatalf("read %T, want *Ping", p)
		}
	})
}

func TestMalformed(t *testing.T) {
	tests := map[string]string{
		"short header":           `01 05 10 00 00000007`,
		"version 2":              `02 0d 10 00 00000007 00000001 00000001 00000000`,
		"type 0":                 `01 00 10 00 00000007 00000001 00000001 00000000`,
		"length beyond data":     `01 0d 10 00 00000007 00000001 00000001 00000004`,
		"trailing bytes":         `01 0d 10 00 00000007 00000001 00000001 00000004 00000000`,
		"truncated oid":          `01 05 10 00 00000007 00000001 00000001 00000008 05 04 00 00 00000001`,
		"oid too long":           `01 05 10 00 00000007 00000001 00000001 00000004 ff 04 00 00`,
		"octet string too long":  `01 0d 18 00 00000007 00000001 00000001 00000008 0000ffff 00000000`,
		"octet string no pad":    `01 0d 18 00 00000007 00000001 00000001 00000008 00000005 61626364`,
		"unknown value type":     `01 12 10 00 00000007 00000001 00000001 0000000c 00000000 00000000 0003 0000 00000000`,
		"IpAddress of 5 octets":  `01 12 10 00 00000007 00000001 00000001 00000018 00000000 00000000 0040 0000 00000000 00000005 0102030405000000`,
		"range_subid past oid":   `01 03 10 00 00000007 00000001 00000001 0000000c 00 7f 09 00 00 04 00 00 00000001`,
		"search range no end":    `01 06 10 00 00000007 00000001 00000001 00000004 00 04 00 00`,
		"Counter64 short":        `01 12 10 00 00000007 00000001 00000001 00000014 00000000 00000000 0046 0000 00000000 00000001`,
		"close with no reason":   `01 02 10 00 00000007 00000001 00000001 00000000`,
		"getbulk with no counts": `01 07 10 00 00000007 00000001 00000001 00000000`,
	}
	for name, wire := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := UnmarshalPDU(hx(wire))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("UnmarshalPDU = %v, %v; want ErrMalformed", p, err)
			}
		})
	}
}

func TestReadPDULimits(t *testing.T) {
	// An absurd length is refused before anything is allocated or read.
	huge := hx(`01 0d 10 00 00000007 00000001 00000001 7fffffff`)
	if _, err := ReadPDU(bytes.NewReader(huge), 1<<20); !errors.Is(err, ErrMalformed) {
		t.Errorf("huge length: err = %v, want ErrMalformed", err)
	}
	// A payload cut short by the end of the stream.
	cut := hx(`01 0d 18 00 00000007 00000001 00000001 00000008 00000003`)
	if _, err := ReadPDU(bytes.NewReader(cut), 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut payload: err = %v, want io.ErrUnexpectedEOF", err)
	}
	// A header cut short.
	if _, err := ReadPDU(bytes.NewReader(cut[:7]), 1<<20); !errors.Is(err, ErrMalformed) {
		t.Errorf("cut header: err = %v, want ErrMalformed", err)
	}
	if _, err := ReadPDU(bytes.NewReader(nil), 1<<20); err != io.EOF {
		t.Errorf("empty stream: err = %v, want io.EOF", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	bad := []VarBind{
		{Type: TypeInteger, Name: mustOID("1.2"), Value: 5}, // int, not int32
		{Type: TypeCounter64, Name: mustOID("1.2"), Value: uint32(5)},
		{Type: TypeIPAddress, Name: mustOID("1.2"), Value: netip.MustParseAddr("2001:db8::1")},
		{Type: TypeOctetString, Name: mustOID("1.2"), Value: "a string"},
		{Type: 99, Name: mustOID("1.2")},
	}
	for _, vb := range bad {
		if _, err := MarshalPDU(&Response{VarBinds: []VarBind{vb}}); err == nil {
			t.Errorf("encoded %+v", vb)
		}
	}
	if _, err := MarshalPDU(&Register{Subtree: mustOID("1.2"), RangeSubID: 3}); err == nil {
		t.Error("encoded a range_subid beyond the subtree")
	}
}

func TestRoundTripContexts(t *testing.T) {
	vb := []VarBind{Counter32(mustOID("1.3.6.1.4.1.99999.1.1.0"), 3)}
	pdus := []PDU{
		&Unregister{Context: []byte("c"), Priority: 1, RangeSubID: 2, Subtree: mustOID("1.3"), UpperBound: 4},
		&Get{Context: []byte{}, Ranges: []SearchRange{{Start: mustOID("1.3")}}},
		&GetNext{Context: []byte("ctx")},
		&GetBulk{Context: []byte("ctx"), MaxRepetitions: 10},
		&TestSet{Context: []byte("ctx"), VarBinds: vb},
		&Notify{Context: []byte("ctx"), VarBinds: vb},
		&IndexAllocate{Header: Header{Flags: FlagAnyIndex}, Context: []byte("ctx"), VarBinds: vb},
		&IndexDeallocate{Context: []byte("ctx"), VarBinds: vb},
		&AddAgentCaps{Context: []byte("ctx"), ID: mustOID("1.3.6.1.4.1.99999.2")},
		&RemoveAgentCaps{Context: []byte("ctx"), ID: mustOID("1.3.6.1.4.1.99999.2")},
	}
	for _, p := range pdus {
		b, err := MarshalPDU(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalPDU(b)
		if err != nil {
			t.Fatalf("%T: %v", p, err)
		}
		// The decoded header carries the computed fields.
		h := got.PDUHeader()
		if h.Flags&FlagNonDefaultContext == 0 || h.Flags&FlagNetworkByteOrder == 0 {
			t.Errorf("%T: flags %#x", p, h.Flags)
		}
		*p.PDUHeader() = *h
		if diff := cmp.Diff(p, got, cmpOpts...); diff != "" {
			t.Errorf("%T (-sent +decoded):\n%s", p, diff)
		}
	}
}

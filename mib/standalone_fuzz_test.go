package mib

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/asn1"
	"encoding/binary"
	"testing"

	"github.com/gosnmp/gosnmp"
)

// counted is the sum of the counters a datagram sent to the agent lands
// in, one per datagram.
func counted(s StandaloneStats) uint64 {
	return s.Requests + s.BadVersion + s.BadCommunity + s.Malformed + s.UnknownEngineIDs + s.UnknownUserNames +
		s.UnsupportedSecLevels + s.WrongDigests + s.NotInTimeWindows + s.DecryptionErrors + s.UnknownContexts
}

// FuzzStandaloneRequest feeds arbitrary datagrams to the agent's request
// path. It must not panic (gosnmp's decoder included: a panic it recovers
// from is counted and fails the fuzz test), every datagram is counted,
// and an answer is an SNMP message of the request's version.
func FuzzStandaloneRequest(f *testing.F) {
	a, err := NewStandalone(testConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.Close() })

	sys := []string{"1.3.6.1.2.1.1.5.0", "1.3.6.1.4.1.99999.1.1.1.0"}
	for _, typ := range []gosnmp.PDUType{gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.SetRequest} {
		f.Add(v2cRequest(f, testCommunity, typ, 0, 0, sys...))
	}
	f.Add(v2cRequest(f, testCommunity, gosnmp.GetBulkRequest, 1, 20, sys...))
	f.Add(v2cRequest(f, "wrong", gosnmp.GetRequest, 0, 0, sys...))
	g := v3Client(f, a)
	for _, typ := range []gosnmp.PDUType{gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.SetRequest} {
		f.Add(v3Request(f, g, 65507, typ, 0, 0, sys...))
	}
	f.Add(v3Request(f, g, 484, gosnmp.GetBulkRequest, 0, 50, "1.3.6.1.4.1.99999"))
	// Engine ID discovery, as net-snmp and gosnmp send it.
	probe := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.Reportable, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: &gosnmp.UsmSecurityParameters{AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv},
		PDUType:            gosnmp.GetRequest, MsgID: 1, RequestID: 2, MsgMaxSize: 65507}
	b, err := probe.MarshalMsg()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, pkt []byte) {
		before := a.Stats()
		out := a.handle(pkt)
		if n := a.stats.panics.Load(); n > 0 {
			t.Fatalf("%d panics recovered while decoding %x", n, pkt)
		}
		if counted(a.Stats()) <= counted(before) {
			t.Errorf("datagram %x not counted", pkt)
		}
		if out == nil {
			return
		}
		want, _ := messageVersion(pkt)
		if got, ok := messageVersion(out); !ok || got != want {
			t.Errorf("answer %x to %x: version %d, want %d", out, pkt, got, want)
		}
		if len(out) > StandaloneMaxMessage {
			t.Errorf("answer of %d octets", len(out))
		}
	})
}

// FuzzStandaloneAuthenticated feeds arbitrary scopedPDUs to the agent as
// an authenticated user would: encrypted with AES and signed with the
// user's keys, so that they pass the USM checks and reach gosnmp's
// decryption and PDU decoder.
func FuzzStandaloneAuthenticated(f *testing.F) {
	a, err := NewStandalone(testConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.Close() })
	u := a.users[testUser]

	sys := []string{"1.3.6.1.2.1.1.5.0", "1.3.6.1.4.1.99999.1.1.1.0"}
	for _, typ := range []gosnmp.PDUType{gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.SetRequest, gosnmp.GetBulkRequest} {
		f.Add(scopedPDU(a.engineID, pduOf(f, v2cRequest(f, testCommunity, typ, 1, 5, sys...))))
	}
	f.Add(scopedPDU(a.engineID, nil))
	f.Add([]byte{0x30, 0x00})
	// The messages made here are answered.
	get := scopedPDU(a.engineID, pduOf(f, v2cRequest(f, testCommunity, gosnmp.GetRequest, 0, 0, sys...)))
	p := decodeAnswer(f, v3Client(f, a), a.handle(authPrivMessage(f, a, u, 1, get)))
	if p.PDUType != gosnmp.GetResponse || len(p.Variables) != 2 || string(p.Variables[1].Value.([]byte)) != "farm" {
		f.Fatalf("answer %s", p.SafeString())
	}

	var salt uint64
	f.Fuzz(func(t *testing.T, scoped []byte) {
		salt++
		before := a.Stats()
		out := a.handle(authPrivMessage(t, a, u, salt, scoped))
		if n := a.stats.panics.Load(); n > 0 {
			t.Fatalf("%d panics recovered while decoding scopedPDU %x", n, scoped)
		}
		after := a.Stats()
		if counted(after) <= counted(before) || after.WrongDigests+after.NotInTimeWindows != 0 {
			t.Fatalf("scopedPDU %x: stats %+v", scoped, after)
		}
		if out != nil {
			if v, ok := messageVersion(out); !ok || v != 3 {
				t.Errorf("answer %x is not SNMPv3", out)
			}
		}
	})
}

// pduOf is the PDU of SNMPv2c message msg (after version and community).
func pduOf(t testing.TB, msg []byte) []byte {
	r := berReader{pkt: msg, end: len(msg)}
	m := r.enter(0x30)
	m.integer()
	m.octets()
	start := m.off
	m.tlv()
	if m.bad {
		t.Fatalf("not a message: %x", msg)
	}
	return msg[start:m.off]
}

// scopedPDU is SEQUENCE { contextEngineID, contextName "", pdu }.
func scopedPDU(engineID, pdu []byte) []byte {
	body := berTLV(0x04, engineID)
	body = append(body, berTLV(0x04, nil)...)
	return berTLV(0x30, append(body, pdu...))
}

// berTLV encodes one TLV with a definite length.
func berTLV(tag byte, contents []byte) []byte {
	out := []byte{tag}
	switch n := len(contents); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, contents...)
}

func berInt(v int64) []byte {
	b, _ := asn1.Marshal(v)
	return b
}

// authPrivMessage is an SNMPv3 message of user u to a, in the time window,
// carrying scoped encrypted with AES-128-CFB (RFC 3826) and signed with
// HMAC-SHA-96 (RFC 3414).
func authPrivMessage(t testing.TB, a *Standalone, u *usmUser, salt uint64, scoped []byte) []byte {
	boots, now := a.boots, a.engineTime(a.now())
	var iv [16]byte
	binary.BigEndian.PutUint32(iv[0:], boots)
	binary.BigEndian.PutUint32(iv[4:], now)
	binary.BigEndian.PutUint64(iv[8:], salt)
	block, err := aes.NewCipher(u.privKey[:16])
	if err != nil {
		t.Fatal(err)
	}
	// CFB-128 by hand: crypto/cipher's CFB is deprecated.
	cipherText := make([]byte, len(scoped))
	feedback := iv[:]
	var ks [16]byte
	for i := 0; i < len(scoped); i += 16 {
		block.Encrypt(ks[:], feedback)
		end := min(i+16, len(scoped))
		for j := i; j < end; j++ {
			cipherText[j] = scoped[j] ^ ks[j-i]
		}
		feedback = cipherText[i:end]
		if len(feedback) < 16 {
			break
		}
	}
	header := berTLV(0x30, bytes.Join([][]byte{berInt(77), berInt(65507), berTLV(0x04, []byte{0x07}), berInt(3)}, nil))
	usm := berTLV(0x30, bytes.Join([][]byte{
		berTLV(0x04, a.engineID), berInt(int64(boots)), berInt(int64(now)), berTLV(0x04, []byte(u.name)),
		berTLV(0x04, make([]byte, 12)), berTLV(0x04, iv[8:]),
	}, nil))
	msg := berTLV(0x30, bytes.Join([][]byte{berInt(3), header, berTLV(0x04, usm), berTLV(0x04, cipherText)}, nil))
	mac := hmac.New(sha1.New, u.authKey)
	mac.Write(msg)
	i := bytes.Index(msg, append([]byte{0x04, 12}, make([]byte, 12)...))
	copy(msg[i+2:], mac.Sum(nil)[:12])
	return msg
}

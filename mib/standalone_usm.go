package mib

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"

	"github.com/droverha/drover/mib/agentx"
)

// EngineID is the snmpEngineID made from text (RFC 3411 §5): the
// enterprise 99999 with the high bit set, then format 4 (text) and text,
// or, for a text longer than the 27 octets that fit, format 5 (octets)
// and the first 27 octets of its SHA-256 digest.
func EngineID(text string) []byte {
	id := []byte{0x80, 0x01, 0x86, 0x9f}
	if len(text) <= 27 {
		return append(append(id, 4), text...)
	}
	sum := sha256.Sum256([]byte(text))
	return append(append(id, 5), sum[:27]...)
}

// nextBoots is snmpEngineBoots for this start: one more than the number in
// path, which is rewritten (1 without a file; 1 and nothing kept for "").
// It stops at 2147483647, where RFC 3414 §2.2.2 leaves an engine that
// only a new engine ID revives.
func nextBoots(path string) (uint32, error) {
	if path == "" {
		return 1, nil
	}
	var boots uint64
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("reading engine boots: %w", err)
	default:
		if boots, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err != nil {
			return 0, fmt.Errorf("reading engine boots from %s: %w", path, err)
		}
	}
	boots = min(boots+1, maxEngineValue)
	// Write then rename, so a crash leaves the old count or the new.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return 0, fmt.Errorf("writing engine boots: %w", err)
	}
	_, err = f.WriteString(strconv.FormatUint(boots, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, fmt.Errorf("writing engine boots to %s: %w", path, err)
	}
	return uint32(boots), nil
}

// usmUser is a USMUser with its keys localized to the agent's engine ID
// (RFC 3414 §2.6).
type usmUser struct {
	name               string
	auth               gosnmp.SnmpV3AuthProtocol
	priv               gosnmp.SnmpV3PrivProtocol
	authPass, privPass string
	authKey, privKey   []byte
	hash               func() hash.Hash
	macLen             int
}

func newUSMUser(u USMUser, engineID []byte) (*usmUser, error) {
	uu := &usmUser{name: u.Name, authPass: u.AuthPassphrase, privPass: u.PrivPassphrase}
	if u.Name == "" || len(u.Name) > 32 {
		return nil, fmt.Errorf("user name %q: want 1 to 32 octets", u.Name)
	}
	switch u.AuthProtocol {
	case "SHA":
		uu.auth, uu.hash, uu.macLen = gosnmp.SHA, sha1.New, 12
	case "SHA-256":
		uu.auth, uu.hash, uu.macLen = gosnmp.SHA256, sha256.New, 24
	default:
		return nil, fmt.Errorf("user %s: auth protocol %q: want SHA or SHA-256", u.Name, u.AuthProtocol)
	}
	switch u.PrivProtocol {
	case "AES":
		uu.priv = gosnmp.AES
	case "AES-256":
		uu.priv = gosnmp.AES256
	default:
		return nil, fmt.Errorf("user %s: priv protocol %q: want AES or AES-256", u.Name, u.PrivProtocol)
	}
	if len(u.AuthPassphrase) < 8 || len(u.PrivPassphrase) < 8 {
		return nil, fmt.Errorf("user %s: passphrases need at least 8 characters (RFC 3414 §11.2)", u.Name)
	}
	sp := uu.params(engineID)
	if err := sp.InitSecurityKeys(); err != nil {
		return nil, fmt.Errorf("user %s: localizing keys: %w", u.Name, err)
	}
	if len(sp.SecretKey) == 0 || len(sp.PrivacyKey) == 0 {
		return nil, fmt.Errorf("user %s: localizing keys: empty key", u.Name)
	}
	uu.authKey, uu.privKey = sp.SecretKey, sp.PrivacyKey
	return uu, nil
}

// params are u's security parameters for gosnmp at engineID, with the
// keys when they are known.
func (u *usmUser) params(engineID []byte) *gosnmp.UsmSecurityParameters {
	return &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID:    string(engineID),
		UserName:                 u.name,
		AuthenticationProtocol:   u.auth,
		PrivacyProtocol:          u.priv,
		AuthenticationPassphrase: u.authPass,
		PrivacyPassphrase:        u.privPass,
		SecretKey:                u.authKey,
		PrivacyKey:               u.privKey,
	}
}

// authentic reports whether pkt carries u's MAC (RFC 3414 §6.3.2, RFC
// 7860 §4.2.2): HMAC of the message with the MAC field zeroed.
func (u *usmUser) authentic(pkt []byte, h *v3Header) bool {
	if h.authEnd-h.authStart != u.macLen {
		return false
	}
	msg := append([]byte(nil), pkt...)
	clear(msg[h.authStart:h.authEnd])
	m := hmac.New(u.hash, u.authKey)
	m.Write(msg)
	return hmac.Equal(m.Sum(nil)[:u.macLen], pkt[h.authStart:h.authEnd])
}

// v3Header is the plaintext part of an SNMPv3 message (RFC 3412 §6) with
// the USM security parameters (RFC 3414 §2.4).
type v3Header struct {
	msgID, maxSize       int64
	flags                byte
	secModel             int64
	engineID, user       []byte
	boots, time          int64
	authStart            int // msgAuthenticationParameters is pkt[authStart:authEnd]
	authEnd              int
	plain                bool // msgData is a plaintext scopedPDU at data
	data, dataEnd        int
	flagsAuth, flagsPriv bool
}

const reportableFlag = 0x04

// parseV3Header reads the header of SNMPv3 message pkt; ok is false if
// it does not decode or breaks RFC 3412 §7.2's rules for msgFlags and
// msgMaxSize.
func parseV3Header(pkt []byte) (h v3Header, ok bool) {
	r := berReader{pkt: pkt, end: len(pkt)}
	msg := r.enter(0x30)
	if r.bad || r.off != len(pkt) {
		return h, false
	}
	if msg.integer() != 3 {
		return h, false
	}
	g := msg.enter(0x30)
	h.msgID, h.maxSize = g.integer(), g.integer()
	flags := g.octets()
	h.secModel = g.integer()
	if g.bad || g.off != g.end || len(flags) != 1 {
		return h, false
	}
	h.flags = flags[0]
	h.flagsAuth, h.flagsPriv = h.flags&0x01 != 0, h.flags&0x02 != 0
	s, e := msg.expect(0x04)
	if msg.bad {
		return h, false
	}
	sec := berReader{pkt: pkt, off: s, end: e}
	usm := sec.enter(0x30)
	h.engineID = usm.octets()
	h.boots, h.time = usm.integer(), usm.integer()
	h.user = usm.octets()
	h.authStart, h.authEnd = usm.expect(0x04)
	usm.octets() // msgPrivacyParameters: gosnmp reads the salt
	if sec.bad || usm.bad || usm.off != usm.end || sec.off != sec.end {
		return h, false
	}
	tag, ds, de := msg.tlv()
	if msg.bad || msg.off != msg.end || (tag != 0x30 && tag != 0x04) {
		return h, false
	}
	h.plain, h.data, h.dataEnd = tag == 0x30, ds, de
	switch {
	case h.msgID < 0 || h.msgID > maxEngineValue,
		h.maxSize < minMsgMaxSize || h.maxSize > maxEngineValue,
		h.boots < 0 || h.boots > maxEngineValue,
		h.time < 0 || h.time > maxEngineValue,
		h.flagsPriv && !h.flagsAuth, // RFC 3412 §7.2 step 5
		h.plain == h.flagsPriv:
		return h, false
	}
	return h, true
}

// plainRequestID is the request-id of a plaintext scopedPDU, for Reports
// (RFC 3412 §7.1 3 d: 0 when it cannot be read).
func (h *v3Header) plainRequestID(pkt []byte) uint32 {
	if !h.plain {
		return 0
	}
	r := berReader{pkt: pkt, off: h.data, end: h.dataEnd}
	r.octets() // contextEngineID
	r.octets() // contextName
	tag, s, e := r.tlv()
	if r.bad || tag < 0xa0 || tag > 0xa8 {
		return 0
	}
	pdu := berReader{pkt: pkt, off: s, end: e}
	id := pdu.integer()
	if pdu.bad {
		return 0
	}
	return uint32(id)
}

// OIDs of the Reports the agent sends besides usmStats.
var (
	snmpUnknownPDUHandlers0 = agentx.OID{1, 3, 6, 1, 6, 3, 11, 2, 1, 3, 0}
	snmpUnknownContexts0    = agentx.OID{1, 3, 6, 1, 6, 3, 12, 1, 5, 0}
)

// handleV3 answers an SNMPv3 message through the User-based Security
// Model (RFC 3414 §3.2), in its order of checks; every failure is counted
// and, if the message is reportable, answered with a Report that carries
// none of the agent's data.
func (a *Standalone) handleV3(pkt []byte) []byte {
	h, ok := parseV3Header(pkt)
	if !ok || h.secModel != int64(gosnmp.UserSecurityModel) {
		a.stats.malformed.Add(1)
		return nil
	}
	now := a.now()
	usmReport := func(stat int, u *usmUser, level gosnmp.SnmpV3MsgFlags) []byte {
		n := a.stats.usm[stat].Add(1)
		a.log.Debug("snmpv3 request refused", "user", string(h.user), "usm_stat", stat)
		return a.report(&h, pkt, u, level, usmStats.Append(uint32(stat), 0), n)
	}
	if !bytes.Equal(h.engineID, a.engineID) {
		// Engine ID discovery (RFC 3414 §4) comes here too.
		return usmReport(usmUnknownEngineIDs, nil, gosnmp.NoAuthNoPriv)
	}
	u := a.users[string(h.user)]
	switch {
	case u == nil:
		return usmReport(usmUnknownUserNames, nil, gosnmp.NoAuthNoPriv)
	case !h.flagsAuth || !h.flagsPriv:
		return usmReport(usmUnsupportedSecLevels, nil, gosnmp.NoAuthNoPriv)
	case !u.authentic(pkt, &h):
		return usmReport(usmWrongDigests, nil, gosnmp.NoAuthNoPriv)
	case h.boots != int64(a.boots) || a.boots == maxEngineValue ||
		h.time < int64(a.engineTime(now))-150 || h.time > int64(a.engineTime(now))+150:
		// RFC 3414 §3.2 7 b: sent authenticated, so that the manager
		// may trust the boots and time it carries.
		return usmReport(usmNotInTimeWindows, u, gosnmp.AuthNoPriv)
	}
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel,
		MsgFlags: gosnmp.AuthPriv, SecurityParameters: u.params(a.engineID)}
	p, err := g.SnmpDecodePacket(append([]byte(nil), pkt...))
	if err != nil {
		// AES-CFB decrypts anything; a wrong key shows as a scopedPDU
		// that does not parse.
		return usmReport(usmDecryptionErrors, nil, gosnmp.NoAuthNoPriv)
	}
	switch {
	case p.ContextEngineID != "" && p.ContextEngineID != string(a.engineID):
		n := a.stats.unknownContexts.Add(1)
		return a.report(&h, pkt, u, gosnmp.AuthPriv, snmpUnknownPDUHandlers0, n)
	case p.ContextName != "":
		n := a.stats.unknownContexts.Add(1)
		return a.report(&h, pkt, u, gosnmp.AuthPriv, snmpUnknownContexts0, n)
	}
	limit := int(min(h.maxSize, StandaloneMaxMessage))
	return a.answer(p, limit, func(status gosnmp.SNMPError, vars []gosnmp.SnmpPDU) ([]byte, error) {
		resp := a.v3Message(&h, u, gosnmp.AuthPriv)
		resp.PDUType, resp.RequestID, resp.Error, resp.Variables = gosnmp.GetResponse, p.RequestID, status, vars
		if status == gosnmp.NotWritable {
			resp.ErrorIndex = 1
		}
		return resp.MarshalMsg()
	})
}

// report is the Report PDU (RFC 3412 §7.1 3) with counter oid at n for
// the request in pkt, at level with u's keys, or nil if the request did
// not ask for one.
func (a *Standalone) report(h *v3Header, pkt []byte, u *usmUser, level gosnmp.SnmpV3MsgFlags, oid agentx.OID, n uint64) []byte {
	if h.flags&reportableFlag == 0 {
		return nil
	}
	msg := a.v3Message(h, u, level)
	msg.PDUType = gosnmp.Report
	msg.RequestID = h.plainRequestID(pkt)
	msg.Variables = []gosnmp.SnmpPDU{{Name: oid.String(), Type: gosnmp.Counter32, Value: uint32(n)}}
	out, err := msg.MarshalMsg()
	if err != nil {
		a.log.Warn("encoding an snmp report", "err", err)
		return nil
	}
	return out
}

// v3Message is an SNMPv3 message from this engine, authoritative, to the
// sender of h at level: u's keys for authentication and privacy, a new
// salt for every encrypted message (RFC 3826 §3.1.2.1).
func (a *Standalone) v3Message(h *v3Header, u *usmUser, level gosnmp.SnmpV3MsgFlags) *gosnmp.SnmpPacket {
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID:    string(a.engineID),
		AuthoritativeEngineBoots: a.boots,
		AuthoritativeEngineTime:  a.engineTime(a.now()),
		UserName:                 string(h.user),
		AuthenticationProtocol:   gosnmp.NoAuth,
		PrivacyProtocol:          gosnmp.NoPriv,
	}
	if u != nil && level&gosnmp.AuthNoPriv != 0 {
		sp.AuthenticationProtocol, sp.SecretKey = u.auth, u.authKey
	}
	if u != nil && level&gosnmp.AuthPriv == gosnmp.AuthPriv {
		sp.PrivacyProtocol, sp.PrivacyKey = u.priv, u.privKey
		sp.PrivacyParameters = binary.BigEndian.AppendUint64(nil, a.salt.Add(1))
	} else {
		level &= gosnmp.AuthNoPriv
	}
	if u == nil {
		level = gosnmp.NoAuthNoPriv
	}
	return &gosnmp.SnmpPacket{
		Version:            gosnmp.Version3,
		MsgFlags:           level,
		SecurityModel:      gosnmp.UserSecurityModel,
		SecurityParameters: sp,
		MsgID:              uint32(h.msgID),
		MsgMaxSize:         StandaloneMaxMessage,
		ContextEngineID:    string(a.engineID),
	}
}

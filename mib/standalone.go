package mib

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/droverha/drover/mib/agentx"
	"github.com/droverha/drover/model"
)

// Standalone agent limits.
const (
	// StandaloneMaxMessage is the largest SNMP message the standalone
	// agent sends or takes: the largest UDP payload over IPv4. It is its
	// snmpEngineMaxMessageSize.
	StandaloneMaxMessage = 65507
	// minMsgMaxSize is the least msgMaxSize an SNMPv3 manager may offer
	// (RFC 3412 §6).
	minMsgMaxSize = 484
	// maxBulkVarBinds bounds the varbinds of one GetBulk answer however
	// large max-repetitions is (RFC 3416 §4.2.3 lets an agent stop
	// early); the message size bounds them further.
	maxBulkVarBinds = 2000
	// lengthSlack covers the BER length fields (message, PDU, varbind
	// list, scoped PDU, encrypted PDU) that grow as varbinds are added to
	// an answer measured empty.
	lengthSlack = 16
	// StandaloneQueueLen is how many notifications wait for each receiver;
	// beyond it the oldest is dropped and counted.
	StandaloneQueueLen = 256
	// InformTimeout and InformRetries are how long an inform waits for
	// its acknowledgement and how often it is sent again.
	InformTimeout = 2 * time.Second
	InformRetries = 3
)

// Objects the standalone agent serves besides DROVER-MIB.
var (
	// SNMPv2-MIB system group (RFC 3418).
	sysDescr0    = agentx.OID{1, 3, 6, 1, 2, 1, 1, 1, 0}
	sysObjectID0 = agentx.OID{1, 3, 6, 1, 2, 1, 1, 2, 0}
	sysContact0  = agentx.OID{1, 3, 6, 1, 2, 1, 1, 4, 0}
	sysName0     = agentx.OID{1, 3, 6, 1, 2, 1, 1, 5, 0}
	sysLocation0 = agentx.OID{1, 3, 6, 1, 2, 1, 1, 6, 0}
	sysServices0 = agentx.OID{1, 3, 6, 1, 2, 1, 1, 7, 0}
	// SNMP-FRAMEWORK-MIB snmpEngine group (RFC 3411).
	snmpEngineID0      = agentx.OID{1, 3, 6, 1, 6, 3, 10, 2, 1, 1, 0}
	snmpEngineBoots0   = agentx.OID{1, 3, 6, 1, 6, 3, 10, 2, 1, 2, 0}
	snmpEngineTime0    = agentx.OID{1, 3, 6, 1, 6, 3, 10, 2, 1, 3, 0}
	snmpEngineMaxSize0 = agentx.OID{1, 3, 6, 1, 6, 3, 10, 2, 1, 4, 0}
	// SNMP-USER-BASED-SM-MIB usmStats (RFC 3414 §5): usmStats.n.0.
	usmStats = agentx.OID{1, 3, 6, 1, 6, 3, 15, 1, 1}
)

// usmStats columns, in RFC 3414 order.
const (
	usmUnsupportedSecLevels = 1 + iota
	usmNotInTimeWindows
	usmUnknownUserNames
	usmUnknownEngineIDs
	usmWrongDigests
	usmDecryptionErrors
)

// sysServices of an application host: end-to-end (4) and applications
// (7) layers, 2^(4-1) + 2^(7-1) (RFC 3418).
const sysServices = 72

// USMUser is an SNMPv3 user of the User-based Security Model (RFC 3414).
// The standalone agent takes its messages at authPriv only.
type USMUser struct {
	Name string
	// AuthProtocol is "SHA" (HMAC-SHA-96, RFC 3414) or "SHA-256"
	// (HMAC-SHA-256-192, RFC 7860).
	AuthProtocol string
	// PrivProtocol is "AES" (AES-128 CFB, RFC 3826) or "AES-256" (the
	// key extension of draft-blumenthal-aes-usm, net-snmp's AES-256).
	PrivProtocol string
	// Passphrases have at least 8 characters (RFC 3414 §11.2).
	AuthPassphrase, PrivPassphrase string
}

// Receiver is where notifications go.
type Receiver struct {
	// Address is host:port (UDP).
	Address string
	// Version is "2c" or "3".
	Version string
	// Community for "2c".
	Community string
	// User for "3": the name of one of StandaloneConfig.Users.
	User string
	// Inform asks for informs, acknowledged and sent again (InformTimeout,
	// InformRetries) until they are; otherwise traps. SNMPv3 informs use
	// the receiver's engine ID (discovered); SNMPv3 traps use the agent's
	// own, which the receiver must know the user under.
	Inform bool
}

// StandaloneConfig configures NewStandalone.
type StandaloneConfig struct {
	// Listen is the UDP address to serve, host:port.
	Listen string
	// Communities are the SNMPv2c communities, all read-only. A request
	// with another community is not answered, only counted
	// (snmpInBadCommunityNames, RFC 3584 §5.2.1).
	Communities []string
	// Users are the SNMPv3 users, all read-only and authPriv.
	Users []USMUser
	// EngineID is the text the snmpEngineID is made from (EngineID).
	EngineID string
	// BootsFile keeps snmpEngineBoots across restarts; it is incremented
	// at every NewStandalone. "" keeps it in memory, starting at 1.
	BootsFile string
	// Receivers get every notification.
	Receivers []Receiver
	// View returns the cluster view; it is called when a snapshot is
	// (re)built, not for every request.
	View func() model.View
	// Zero is when sysUpTime was 0, for tests; the zero value is the
	// agent's start.
	Zero time.Time
	// The SNMPv2-MIB system group. SysDescr defaults to "Drover cluster
	// agent".
	SysName, SysDescr, SysContact, SysLocation string
	// Logger; nil discards.
	Logger *slog.Logger
}

// StandaloneStats counts what the standalone agent did. Requests that are
// not answered are counted once, under the reason.
type StandaloneStats struct {
	// Requests answered: Get, GetNext, GetBulk, Set (refused).
	Requests uint64
	// BadVersion: SNMPv1 and unknown versions, dropped.
	BadVersion uint64
	// BadCommunity: SNMPv2c with a community not configured, dropped
	// without an answer (snmpInBadCommunityNames).
	BadCommunity uint64
	// Malformed: datagrams that do not decode, and PDUs an agent does not
	// take (Response, Trap, Report), dropped.
	Malformed uint64
	// The usmStats of RFC 3414, each answered with a Report when the
	// request asks for one. UnknownEngineIDs counts engine ID discovery,
	// the first message of every SNMPv3 manager. UnsupportedSecLevels are
	// requests of a known user below authPriv.
	UnknownEngineIDs, UnknownUserNames, UnsupportedSecLevels, WrongDigests, NotInTimeWindows, DecryptionErrors uint64
	// UnknownContexts: SNMPv3 requests for a context other than the
	// default one of this engine, answered with a Report.
	UnknownContexts uint64
	// Notifications: sent (traps sent; informs acknowledged), failed
	// (not sent, or informs not acknowledged after the retries), and
	// dropped from a full queue. A notification counts once per receiver.
	Sent, SendFailed, Dropped uint64
}

type standaloneCounters struct {
	requests, badVersion, badCommunity, malformed      atomic.Uint64
	usm                                                [usmDecryptionErrors + 1]atomic.Uint64
	unknownContexts, sent, sendFailed, dropped, panics atomic.Uint64
}

// Standalone is an SNMP agent of its own for hosts without snmpd: it
// serves DROVER-MIB, the system group, snmpEngine and usmStats over UDP
// to SNMPv2c (RFC 3416, 3584) and SNMPv3 USM authPriv (RFC 3412, 3414,
// 3826, 7860) managers, read-only, and sends notifications as SNMPv2c
// traps or SNMPv3 informs or traps. Messages are encoded with gosnmp.
type Standalone struct {
	cfg   StandaloneConfig
	log   *slog.Logger
	conn  *net.UDPConn
	snaps *Snapshots

	zero  time.Time // sysUpTime 0
	start time.Time // snmpEngineTime 0
	now   func() time.Time

	engineID    []byte
	boots       uint32
	communities [][]byte
	users       map[string]*usmUser
	senders     []*notifySender

	// informTimeout and informRetries are InformTimeout and
	// InformRetries; tests shorten them.
	informTimeout time.Duration
	informRetries int

	salt    atomic.Uint64 // AES salt of the answers (RFC 3826 §3.1.2.1)
	stats   standaloneCounters
	running atomic.Bool
	closed  sync.Once
}

// NewStandalone checks c, increments the engine boots and binds the UDP
// socket, so that configuration errors and an address in use show at
// start; Run serves.
func NewStandalone(c StandaloneConfig) (*Standalone, error) {
	if c.View == nil {
		return nil, errors.New("standalone snmp agent: no view")
	}
	if c.EngineID == "" {
		return nil, errors.New("standalone snmp agent: no engine id text")
	}
	if c.SysDescr == "" {
		c.SysDescr = "Drover cluster agent"
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now()
	a := &Standalone{
		cfg:      c,
		log:      log.With("component", "snmp"),
		zero:     c.Zero,
		start:    now,
		now:      time.Now,
		engineID: EngineID(c.EngineID),
		users:    map[string]*usmUser{},

		informTimeout: InformTimeout,
		informRetries: InformRetries,
	}
	if a.zero.IsZero() {
		a.zero = now
	}
	for _, cm := range c.Communities {
		// gosnmp writes the community's length in one octet.
		if cm == "" || len(cm) > 127 {
			return nil, fmt.Errorf("standalone snmp agent: community of %d octets, want 1 to 127", len(cm))
		}
		a.communities = append(a.communities, []byte(cm))
	}
	for _, u := range c.Users {
		uu, err := newUSMUser(u, a.engineID)
		if err != nil {
			return nil, fmt.Errorf("standalone snmp agent: %w", err)
		}
		if a.users[u.Name] != nil {
			return nil, fmt.Errorf("standalone snmp agent: user %q twice", u.Name)
		}
		a.users[u.Name] = uu
	}
	for _, r := range c.Receivers {
		s, err := a.newSender(r)
		if err != nil {
			return nil, fmt.Errorf("standalone snmp agent: receiver %s: %w", r.Address, err)
		}
		a.senders = append(a.senders, s)
	}
	var seed [8]byte
	rand.Read(seed[:])
	a.salt.Store(binary.BigEndian.Uint64(seed[:]))

	addr, err := net.ResolveUDPAddr("udp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("standalone snmp agent: listen address %q: %w", c.Listen, err)
	}
	if a.conn, err = net.ListenUDP("udp", addr); err != nil {
		return nil, fmt.Errorf("standalone snmp agent: %w", err)
	}
	// Only a start that serves counts as a boot.
	boots, err := nextBoots(c.BootsFile)
	if err != nil {
		a.conn.Close()
		return nil, fmt.Errorf("standalone snmp agent: %w", err)
	}
	a.boots = boots
	a.snaps = NewSnapshots(c.View, a.zero)
	a.log.Info("snmp agent listening", "addr", a.conn.LocalAddr().String(),
		"engine_id", fmt.Sprintf("%x", a.engineID), "engine_boots", boots)
	return a, nil
}

// Addr is the address the agent listens on.
func (a *Standalone) Addr() net.Addr { return a.conn.LocalAddr() }

// EngineID is the agent's snmpEngineID: receivers of its SNMPv3 traps
// know its users under it.
func (a *Standalone) EngineID() []byte { return append([]byte(nil), a.engineID...) }

// EngineBoots is snmpEngineBoots, incremented at every NewStandalone.
func (a *Standalone) EngineBoots() uint32 { return a.boots }

// Close closes the socket; Run returns. It is safe to call more than once.
func (a *Standalone) Close() error {
	var err error
	a.closed.Do(func() { err = a.conn.Close() })
	return err
}

// Run serves requests and sends notifications until ctx ends, then closes
// the socket. It returns nil when ctx ended.
func (a *Standalone) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("standalone snmp agent: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { a.Close() })
	defer stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	for _, s := range a.senders {
		wg.Go(func() { s.run(ctx, a) })
	}
	// Several readers of one socket: answering a GetBulk over a large
	// tree takes long enough to keep a second core busy.
	workers := min(max(runtime.GOMAXPROCS(0), 1), 4)
	for range workers {
		wg.Go(func() {
			a.serve(ctx)
			cancel()
		})
	}
	<-ctx.Done()
	a.Close()
	return nil
}

// serve answers datagrams until the socket is closed.
func (a *Standalone) serve(ctx context.Context) {
	buf := make([]byte, 65536)
	for {
		n, from, err := a.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			a.log.Warn("reading snmp requests", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		out := a.handle(buf[:n])
		if out == nil {
			continue
		}
		if _, err := a.conn.WriteToUDPAddrPort(out, from); err != nil && ctx.Err() == nil {
			a.log.Debug("sending an snmp answer", "to", from.String(), "err", err)
		}
	}
}

// Stats returns the counts so far.
func (a *Standalone) Stats() StandaloneStats {
	c := &a.stats
	return StandaloneStats{
		Requests:             c.requests.Load(),
		BadVersion:           c.badVersion.Load(),
		BadCommunity:         c.badCommunity.Load(),
		Malformed:            c.malformed.Load(),
		UnknownEngineIDs:     c.usm[usmUnknownEngineIDs].Load(),
		UnknownUserNames:     c.usm[usmUnknownUserNames].Load(),
		UnsupportedSecLevels: c.usm[usmUnsupportedSecLevels].Load(),
		WrongDigests:         c.usm[usmWrongDigests].Load(),
		NotInTimeWindows:     c.usm[usmNotInTimeWindows].Load(),
		DecryptionErrors:     c.usm[usmDecryptionErrors].Load(),
		UnknownContexts:      c.unknownContexts.Load(),
		Sent:                 c.sent.Load(),
		SendFailed:           c.sendFailed.Load(),
		Dropped:              c.dropped.Load(),
	}
}

// handle returns the answer to the datagram pkt, or nil for none. It
// never panics: gosnmp decodes attacker-controlled bytes, and a panic
// there is counted as a malformed datagram. pkt is not kept.
func (a *Standalone) handle(pkt []byte) (out []byte) {
	defer func() {
		if p := recover(); p != nil {
			a.stats.panics.Add(1)
			a.stats.malformed.Add(1)
			a.log.Warn("snmp request could not be decoded", "err", fmt.Sprint(p))
			out = nil
		}
	}()
	version, ok := messageVersion(pkt)
	switch {
	case !ok:
		a.stats.malformed.Add(1)
		return nil
	case version == int64(gosnmp.Version2c):
		return a.handleV2c(pkt)
	case version == int64(gosnmp.Version3):
		return a.handleV3(pkt)
	default:
		a.stats.badVersion.Add(1)
		return nil
	}
}

// handleV2c answers an SNMPv2c message (RFC 3416, RFC 3584).
func (a *Standalone) handleV2c(pkt []byte) []byte {
	p, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(append([]byte(nil), pkt...))
	if err != nil {
		a.stats.malformed.Add(1)
		a.log.Debug("malformed snmp request", "err", err)
		return nil
	}
	if !a.communityOK(p.Community) {
		a.stats.badCommunity.Add(1)
		return nil
	}
	return a.answer(p, StandaloneMaxMessage, func(status gosnmp.SNMPError, vars []gosnmp.SnmpPDU) ([]byte, error) {
		resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: p.Community,
			PDUType: gosnmp.GetResponse, RequestID: p.RequestID, Error: status, Variables: vars}
		if status == gosnmp.NotWritable {
			resp.ErrorIndex = 1
		}
		return resp.MarshalMsg()
	})
}

func (a *Standalone) communityOK(c string) bool {
	ok := false
	for _, want := range a.communities {
		if subtle.ConstantTimeCompare(want, []byte(c)) == 1 {
			ok = true
		}
	}
	return ok
}

// marshalFunc wraps a response PDU with status and vars into a message.
type marshalFunc func(status gosnmp.SNMPError, vars []gosnmp.SnmpPDU) ([]byte, error)

// answer returns the response to request p, in a message of at most limit
// octets made by marshal; nil (counted Malformed) for a PDU that is not a
// request.
func (a *Standalone) answer(p *gosnmp.SnmpPacket, limit int, marshal marshalFunc) []byte {
	switch p.PDUType {
	case gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.GetBulkRequest, gosnmp.SetRequest:
	default:
		a.stats.malformed.Add(1)
		return nil
	}
	names := make([]agentx.OID, len(p.Variables))
	for i, v := range p.Variables {
		o, err := agentx.ParseOID(v.Name)
		if err != nil {
			a.stats.malformed.Add(1)
			return nil
		}
		names[i] = o
	}
	a.stats.requests.Add(1)

	if p.PDUType == gosnmp.SetRequest {
		// Nothing here can be written (RFC 3416 §4.2.5 (2)); the
		// answer carries the request's varbinds.
		if len(p.Variables) == 0 {
			return a.marshalled(marshal, gosnmp.NoError, nil)
		}
		out, err := marshal(gosnmp.NotWritable, p.Variables)
		if err != nil {
			nulls := make([]gosnmp.SnmpPDU, len(p.Variables))
			for i, v := range p.Variables {
				nulls[i] = gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.Null}
			}
			out, err = marshal(gosnmp.NotWritable, nulls)
		}
		if err != nil || len(out) > limit {
			return a.marshalled(marshal, gosnmp.TooBig, nil)
		}
		return out
	}

	empty, err := marshal(gosnmp.NoError, nil)
	if err != nil {
		a.log.Warn("encoding an snmp answer", "err", err)
		return nil
	}
	budget := limit - len(empty) - lengthSlack
	v := a.view(a.now())
	var vbs []agentx.VarBind
	size := 0
	fits := func(vb agentx.VarBind) bool {
		s := varBindSize(vb)
		if size+s > budget {
			return false
		}
		size += s
		return true
	}
	switch p.PDUType {
	case gosnmp.GetRequest, gosnmp.GetNextRequest:
		for _, n := range names {
			vb := v.get(n)
			if p.PDUType == gosnmp.GetNextRequest {
				vb = v.next(n)
			}
			if !fits(vb) {
				// RFC 3416 §4.2.1: tooBig, no varbinds.
				return a.marshalled(marshal, gosnmp.TooBig, nil)
			}
			vbs = append(vbs, vb)
		}
	case gosnmp.GetBulkRequest:
		vbs = bulk(v, names, int(p.NonRepeaters), int(p.MaxRepetitions), fits)
		if len(vbs) == 0 && len(names) > 0 {
			return a.marshalled(marshal, gosnmp.TooBig, nil)
		}
	}
	vars := make([]gosnmp.SnmpPDU, len(vbs))
	for i, vb := range vbs {
		vars[i] = toPDU(vb)
	}
	for {
		out, err := marshal(gosnmp.NoError, vars)
		if err != nil {
			a.log.Warn("encoding an snmp answer", "err", err)
			return a.marshalled(marshal, gosnmp.GenErr, nil)
		}
		if len(out) <= limit {
			return out
		}
		// The size estimate is an upper bound, so this is not expected;
		// GetBulk drops trailing varbinds (RFC 3416 §4.2.3), the others
		// are tooBig.
		if p.PDUType != gosnmp.GetBulkRequest || len(vars) <= 1 {
			return a.marshalled(marshal, gosnmp.TooBig, nil)
		}
		vars = vars[:len(vars)*9/10]
	}
}

// marshalled is an answer without varbinds, or nil if it cannot be made.
func (a *Standalone) marshalled(marshal marshalFunc, status gosnmp.SNMPError, vars []gosnmp.SnmpPDU) []byte {
	out, err := marshal(status, vars)
	if err != nil {
		a.log.Warn("encoding an snmp answer", "err", err)
		return nil
	}
	return out
}

// bulk is the GetBulk answer of RFC 3416 §4.2.3: the successors of the
// first n names, then up to m rounds of successors of the others. It
// stops when a varbind does not fit (the message is full), after
// maxBulkVarBinds, or after a round in which every name reached the end of
// the MIB view.
func bulk(v standaloneView, names []agentx.OID, n, m int, fits func(agentx.VarBind) bool) []agentx.VarBind {
	var vbs []agentx.VarBind
	collect := func(vb agentx.VarBind) bool {
		if !fits(vb) {
			return false
		}
		vbs = append(vbs, vb)
		return true
	}
	n = min(max(n, 0), len(names))
	for _, name := range names[:n] {
		if !collect(v.next(name)) {
			return vbs
		}
	}
	r := len(names) - n
	if r == 0 || m <= 0 {
		return vbs
	}
	m = min(m, max((maxBulkVarBinds-n)/r, 1))
	last := append([]agentx.OID(nil), names[n:]...)
	// Where in the tree each column's last answer was: its successor is
	// usually the next row, found without a search.
	hints := make([]int, r)
	for j := range hints {
		hints[j] = -1
	}
	for range m {
		ended := true
		for j, name := range last {
			vb := v.nextAt(name, &hints[j])
			if vb.Type != agentx.TypeEndOfMibView {
				ended = false
				last[j] = vb.Name
			}
			if !collect(vb) {
				return vbs
			}
		}
		if ended {
			break
		}
	}
	return vbs
}

// standaloneView is what one request reads: the DROVER-MIB tree of its
// snapshot and the agent's own objects.
type standaloneView struct {
	tree, local *Tree
}

func (a *Standalone) view(now time.Time) standaloneView {
	return standaloneView{tree: a.snaps.Tree(now), local: a.localTree(now)}
}

func (v standaloneView) get(oid agentx.OID) agentx.VarBind {
	if vb := v.local.Get(oid); !vb.Type.IsException() {
		return vb
	}
	// The local objects are scalars: name.0 is their only instance.
	for _, row := range v.local.Rows() {
		if obj := row.Name[:len(row.Name)-1]; len(oid) > len(obj) && oid.HasPrefix(obj) {
			return agentx.NoSuchInstance(oid)
		}
	}
	return v.tree.Get(oid)
}

// next is the first instance after oid, or endOfMibView.
func (v standaloneView) next(oid agentx.OID) agentx.VarBind {
	hint := -1
	return v.nextAt(oid, &hint)
}

// nextAt is next with a hint: *hint is the index in the tree's rows of
// oid's instance, or -1 when not known; it is updated for the instance
// returned.
func (v standaloneView) nextAt(oid agentx.OID, hint *int) agentx.VarBind {
	rows := v.tree.Rows()
	i := *hint + 1
	if *hint < 0 || *hint >= len(rows) || !rows[*hint].Name.Equal(oid) {
		var found bool
		i, found = slices.BinarySearchFunc(rows, oid, func(vb agentx.VarBind, o agentx.OID) int { return vb.Name.Compare(o) })
		if found {
			i++
		}
	}
	y := v.local.GetNext(agentx.SearchRange{Start: oid})
	if i < len(rows) && (y.Type == agentx.TypeEndOfMibView || rows[i].Name.Compare(y.Name) < 0) {
		*hint = i
		return rows[i]
	}
	*hint = -1
	return y
}

// localTree is the system group, snmpEngine and usmStats at now.
func (a *Standalone) localTree(now time.Time) *Tree {
	c := a.cfg
	vbs := []agentx.VarBind{
		agentx.String(sysDescr0, c.SysDescr),
		agentx.ObjectID(sysObjectID0, SysObjectID),
		agentx.TimeTicks(SysUpTime0, sysUpTicks(a.zero, now)),
		agentx.String(sysContact0, c.SysContact),
		agentx.String(sysName0, c.SysName),
		agentx.String(sysLocation0, c.SysLocation),
		agentx.Integer(sysServices0, sysServices),
		agentx.OctetString(snmpEngineID0, a.engineID),
		agentx.Integer(snmpEngineBoots0, int32(a.boots)),
		agentx.Integer(snmpEngineTime0, int32(a.engineTime(now))),
		agentx.Integer(snmpEngineMaxSize0, StandaloneMaxMessage),
	}
	for i := usmUnsupportedSecLevels; i <= usmDecryptionErrors; i++ {
		vbs = append(vbs, agentx.Counter32(usmStats.Append(uint32(i), 0), uint32(a.stats.usm[i].Load())))
	}
	return NewTree(vbs)
}

// sysUpTicks is t in centiseconds after zero, 0 before it; it wraps after
// 497 days, as sysUpTime does.
func sysUpTicks(zero, t time.Time) uint32 {
	d := t.Sub(zero)
	if d <= 0 {
		return 0
	}
	return uint32(d / (10 * time.Millisecond))
}

// engineTime is snmpEngineTime: seconds since NewStandalone.
func (a *Standalone) engineTime(now time.Time) uint32 {
	d := now.Sub(a.start)
	if d <= 0 {
		return 0
	}
	return uint32(min(d/time.Second, maxEngineValue))
}

// toPDU is vb for gosnmp's encoder.
func toPDU(vb agentx.VarBind) gosnmp.SnmpPDU {
	p := gosnmp.SnmpPDU{Name: oidString(vb.Name), Type: gosnmp.Null}
	switch v := vb.Value.(type) {
	case int32:
		if vb.Type == agentx.TypeInteger {
			p.Type, p.Value = gosnmp.Integer, int(v)
		}
	case uint32:
		switch vb.Type {
		case agentx.TypeCounter32:
			p.Type, p.Value = gosnmp.Counter32, v
		case agentx.TypeGauge32:
			p.Type, p.Value = gosnmp.Gauge32, v
		case agentx.TypeTimeTicks:
			p.Type, p.Value = gosnmp.TimeTicks, v
		}
	case uint64:
		if vb.Type == agentx.TypeCounter64 {
			p.Type, p.Value = gosnmp.Counter64, v
		}
	case []byte:
		switch vb.Type {
		case agentx.TypeOctetString:
			p.Type, p.Value = gosnmp.OctetString, v
		case agentx.TypeOpaque:
			p.Type, p.Value = gosnmp.Opaque, v
		}
	case agentx.OID:
		if vb.Type == agentx.TypeObjectID {
			p.Type, p.Value = gosnmp.ObjectIdentifier, oidString(v)
		}
	case nil:
		switch vb.Type {
		case agentx.TypeNoSuchObject:
			p.Type = gosnmp.NoSuchObject
		case agentx.TypeNoSuchInstance:
			p.Type = gosnmp.NoSuchInstance
		case agentx.TypeEndOfMibView:
			p.Type = gosnmp.EndOfMibView
		case agentx.TypeOctetString:
			p.Type, p.Value = gosnmp.OctetString, []byte(nil)
		}
	case netip.Addr:
		if vb.Type == agentx.TypeIPAddress && v.Is4() {
			b := v.As4()
			p.Type, p.Value = gosnmp.IPAddress, b[:]
		}
	}
	return p
}

// oidString is o for gosnmp; the null OID is 0.0 (SMIv2 zeroDotZero),
// which is how it is sent.
func oidString(o agentx.OID) string {
	if len(o) < 2 {
		return "0.0"
	}
	b := make([]byte, 0, 4*len(o))
	for i, s := range o {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(s), 10)
	}
	return string(b)
}

// varBindSize is an upper bound of vb's BER encoding.
func varBindSize(vb agentx.VarBind) int {
	var val int
	switch vb.Type {
	case agentx.TypeInteger:
		val = 4
	case agentx.TypeCounter32, agentx.TypeGauge32, agentx.TypeTimeTicks:
		val = 5
	case agentx.TypeCounter64:
		val = 9
	case agentx.TypeIPAddress:
		val = 4
	case agentx.TypeOctetString, agentx.TypeOpaque:
		b, _ := vb.Value.([]byte)
		val = len(b)
	case agentx.TypeObjectID:
		o, _ := vb.Value.(agentx.OID)
		val = oidSize(o)
	}
	return tlvSize(tlvSize(oidSize(vb.Name)) + tlvSize(val))
}

// oidSize is the length of o's BER contents (X.690 §8.19).
func oidSize(o agentx.OID) int {
	if len(o) < 2 {
		return 1
	}
	n := base128Size(uint64(o[0])*40 + uint64(o[1]))
	for _, s := range o[2:] {
		n += base128Size(uint64(s))
	}
	return n
}

func base128Size(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// tlvSize is the size of a TLV with n octets of contents.
func tlvSize(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n < 0x100:
		return 3 + n
	case n < 0x10000:
		return 4 + n
	default:
		return 5 + n
	}
}

// messageVersion is the msgVersion of an SNMP message (RFC 3412 §6):
// 1 for SNMPv2c, 3 for SNMPv3.
func messageVersion(pkt []byte) (int64, bool) {
	r := berReader{pkt: pkt, end: len(pkt)}
	msg := r.enter(0x30)
	if r.bad || r.off != len(pkt) {
		return 0, false
	}
	v := msg.integer()
	return v, !msg.bad
}

// berReader reads the TLVs of pkt[off:end] one after the other. Offsets
// are into the whole message so that fields can be found again in it.
// After an error bad is set and every read returns zero values.
type berReader struct {
	pkt      []byte
	off, end int
	bad      bool
}

// tlv reads the next TLV; its contents are pkt[start:end].
func (r *berReader) tlv() (tag byte, start, end int) {
	if r.bad || r.end-r.off < 2 {
		r.bad = true
		return 0, 0, 0
	}
	tag = r.pkt[r.off]
	l := int(r.pkt[r.off+1])
	p := r.off + 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 || r.end-p < n {
			r.bad = true
			return 0, 0, 0
		}
		l = 0
		for _, b := range r.pkt[p : p+n] {
			l = l<<8 | int(b)
		}
		p += n
	}
	if l > r.end-p {
		r.bad = true
		return 0, 0, 0
	}
	r.off = p + l
	return tag, p, p + l
}

// expect reads a TLV with tag.
func (r *berReader) expect(tag byte) (start, end int) {
	t, s, e := r.tlv()
	if t != tag {
		r.bad = true
		return 0, 0
	}
	return s, e
}

// enter reads a TLV with tag and returns a reader of its contents.
func (r *berReader) enter(tag byte) *berReader {
	s, e := r.expect(tag)
	return &berReader{pkt: r.pkt, off: s, end: e, bad: r.bad}
}

// integer reads an INTEGER of at most 32 bits of magnitude.
func (r *berReader) integer() int64 {
	s, e := r.expect(0x02)
	if r.bad || e-s < 1 || e-s > 5 {
		r.bad = true
		return 0
	}
	v := int64(int8(r.pkt[s]))
	for _, b := range r.pkt[s+1 : e] {
		v = v<<8 | int64(b)
	}
	if v < -1<<31 || v > 1<<32-1 {
		r.bad = true
		return 0
	}
	return v
}

// octets reads an OCTET STRING.
func (r *berReader) octets() []byte {
	s, e := r.expect(0x04)
	return r.pkt[s:e:e]
}

// maxEngineValue is the largest snmpEngineBoots and snmpEngineTime
// (RFC 3414 §2.2.1).
const maxEngineValue = 1<<31 - 1

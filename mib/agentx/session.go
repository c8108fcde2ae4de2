package agentx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Handler serves the objects of a session's registered subtrees. Its
// methods are called from one goroutine, one at a time.
type Handler interface {
	// Get returns the object named oid, or a noSuchObject or
	// noSuchInstance VarBind. The session sets the returned Name to oid.
	Get(oid OID) VarBind
	// GetNext returns the first object in r (see InRange), or an
	// endOfMibView VarBind when there is none. A returned object outside
	// r is answered as endOfMibView.
	GetNext(r SearchRange) VarBind
}

// Config configures OpenSession.
type Config struct {
	// ID identifies the subagent (o.id), e.g. its sysObjectID; may be nil.
	ID OID
	// Description is o.descr, shown by the master agent.
	Description string
	// Timeout is the session's default time (o.timeout) the master waits
	// for an answer, in whole seconds up to 255; 0 leaves it to the master.
	Timeout time.Duration
	// Handler answers Get, GetNext and GetBulk. Required.
	Handler Handler
	// Logger; nil discards.
	Logger *slog.Logger
	// MaxPDU is the largest payload accepted from the master (default 1 MiB).
	MaxPDU uint32
	// RequestTimeout bounds a request whose context has no deadline, and
	// each write (default 5 s).
	RequestTimeout time.Duration
}

// Registration names a MIB region for Register and Unregister (RFC 2741
// §6.2.3). When RangeSubID is not zero, the region is the subtrees from
// Subtree to Subtree with sub-identifier RangeSubID (1-based) replaced by
// UpperBound.
type Registration struct {
	Subtree OID
	// Priority: lower wins; 127 is the default of RFC 2741. The zero value
	// is the highest priority.
	Priority   uint8
	RangeSubID uint8
	UpperBound uint32
	// Timeout overrides the session's timeout for this region (seconds; 0:
	// the session's).
	Timeout uint8
	// InstanceRegistration registers a single object instance.
	InstanceRegistration bool
	// Context is a non-default context; nil for the default.
	Context []byte
}

// DefaultPriority is the registration priority RFC 2741 §6.2.3 suggests.
const DefaultPriority = 127

// Session is an open AgentX session with a master agent. One goroutine
// reads the connection; another answers the master's requests through the
// Handler; writes are serialised. All methods are safe for concurrent use.
type Session struct {
	conn    net.Conn
	handler Handler
	log     *slog.Logger
	maxPDU  uint32
	timeout time.Duration

	wmu sync.Mutex // guards writes to conn

	mu       sync.Mutex // guards id, upTime, upTimeAt, nextID, pending, err
	id       uint32
	upTime   uint32    // the master's sysUpTime in its answer to Open
	upTimeAt time.Time // when that answer was read
	nextID   uint32
	pending  map[uint32]chan *Response
	err      error
	done     chan struct{}
	requests chan PDU
	wg       sync.WaitGroup
}

// OpenSession starts a session over conn (a unix or TCP connection to the
// master's AgentX socket) and sends agentx-Open. On error conn is closed.
func OpenSession(ctx context.Context, conn net.Conn, cfg Config) (*Session, error) {
	if cfg.Handler == nil {
		conn.Close()
		return nil, errors.New("opening agentx session: no handler")
	}
	if cfg.Timeout < 0 || cfg.Timeout > 255*time.Second {
		conn.Close()
		return nil, fmt.Errorf("opening agentx session: timeout %s out of 0..255s", cfg.Timeout)
	}
	s := &Session{
		conn:     conn,
		handler:  cfg.Handler,
		log:      cfg.Logger,
		maxPDU:   cfg.MaxPDU,
		timeout:  cfg.RequestTimeout,
		pending:  map[uint32]chan *Response{},
		done:     make(chan struct{}),
		requests: make(chan PDU, 16),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "agentx")
	if s.maxPDU == 0 {
		s.maxPDU = 1 << 20
	}
	if s.timeout <= 0 {
		s.timeout = 5 * time.Second
	}
	s.wg.Add(2)
	go s.readLoop()
	go s.serveLoop()
	r, err := s.request(ctx, &Open{
		Timeout:     uint8(cfg.Timeout / time.Second),
		ID:          cfg.ID,
		Description: []byte(cfg.Description),
	})
	if err != nil {
		s.shutdown(err)
		s.wg.Wait()
		return nil, fmt.Errorf("opening agentx session: %w", err)
	}
	at := time.Now()
	s.mu.Lock()
	s.id = r.SessionID
	s.upTime, s.upTimeAt = r.SysUpTime, at
	s.mu.Unlock()
	s.log = s.log.With("session", r.SessionID)
	s.log.Info("agentx session open")
	return s, nil
}

// ID returns the session ID the master assigned.
func (s *Session) ID() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// MasterUpTime returns the master's sysUpTime (centiseconds) from its
// answer to Open (res.sysUpTime, RFC 2741 §6.2.16), and when that answer
// arrived: sysUpTime was 0 at about at − ticks×10ms.
func (s *Session) MasterUpTime() (ticks uint32, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.upTime, s.upTimeAt
}

// Done is closed when the session has ended; Err then says why.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it is open.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Register asks the master to send requests for reg's region here.
func (s *Session) Register(ctx context.Context, reg Registration) error {
	p := &Register{
		Context:    reg.Context,
		Timeout:    reg.Timeout,
		Priority:   reg.Priority,
		RangeSubID: reg.RangeSubID,
		Subtree:    reg.Subtree,
		UpperBound: reg.UpperBound,
	}
	if reg.InstanceRegistration {
		p.Flags |= FlagInstanceRegistration
	}
	if _, err := s.request(ctx, p); err != nil {
		return fmt.Errorf("registering %s: %w", reg.Subtree, err)
	}
	return nil
}

// Unregister withdraws a region registered with the same Subtree,
// Priority, RangeSubID, UpperBound and Context.
func (s *Session) Unregister(ctx context.Context, reg Registration) error {
	p := &Unregister{
		Context:    reg.Context,
		Priority:   reg.Priority,
		RangeSubID: reg.RangeSubID,
		Subtree:    reg.Subtree,
		UpperBound: reg.UpperBound,
	}
	if _, err := s.request(ctx, p); err != nil {
		return fmt.Errorf("unregistering %s: %w", reg.Subtree, err)
	}
	return nil
}

// Notify sends a notification: vbs start with sysUpTime.0 (optional) and
// snmpTrapOID.0 (RFC 2741 §6.2.10). It returns once the master answered.
func (s *Session) Notify(ctx context.Context, vbs ...VarBind) error {
	if _, err := s.request(ctx, &Notify{VarBinds: vbs}); err != nil {
		return fmt.Errorf("notifying: %w", err)
	}
	return nil
}

// Ping checks that the master still has the session open.
func (s *Session) Ping(ctx context.Context) error {
	if _, err := s.request(ctx, &Ping{}); err != nil {
		return fmt.Errorf("pinging: %w", err)
	}
	return nil
}

// AddAgentCaps advertises an agent capabilities statement (sysORTable).
func (s *Session) AddAgentCaps(ctx context.Context, id OID, descr string) error {
	if _, err := s.request(ctx, &AddAgentCaps{ID: id, Description: []byte(descr)}); err != nil {
		return fmt.Errorf("adding agent caps %s: %w", id, err)
	}
	return nil
}

// RemoveAgentCaps withdraws an agent capabilities statement.
func (s *Session) RemoveAgentCaps(ctx context.Context, id OID) error {
	if _, err := s.request(ctx, &RemoveAgentCaps{ID: id}); err != nil {
		return fmt.Errorf("removing agent caps %s: %w", id, err)
	}
	return nil
}

// IndexAllocate asks the master to allocate table index values (RFC 2741
// §6.2.12), one per varbind: the varbind names the index object and holds
// the wanted value. With newIndex or anyIndex the master picks the value.
// It returns the allocated varbinds.
func (s *Session) IndexAllocate(ctx context.Context, newIndex, anyIndex bool, vbs ...VarBind) ([]VarBind, error) {
	p := &IndexAllocate{VarBinds: vbs}
	if newIndex {
		p.Flags |= FlagNewIndex
	}
	if anyIndex {
		p.Flags |= FlagAnyIndex
	}
	r, err := s.request(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("allocating indexes: %w", err)
	}
	return r.VarBinds, nil
}

// IndexDeallocate releases index values allocated with IndexAllocate.
func (s *Session) IndexDeallocate(ctx context.Context, vbs ...VarBind) error {
	if _, err := s.request(ctx, &IndexDeallocate{VarBinds: vbs}); err != nil {
		return fmt.Errorf("deallocating indexes: %w", err)
	}
	return nil
}

// Close sends agentx-Close with reason, waits (bounded by ctx and the
// request timeout) for the master's answer, then closes the connection.
// The connection is closed even when the master does not answer.
func (s *Session) Close(ctx context.Context, reason CloseReason) error {
	_, err := s.request(ctx, &Close{Reason: reason})
	s.shutdown(ErrSessionClosed)
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("closing agentx session: %w", err)
	}
	return nil
}

// request sends p and waits for the Response with its packetID.
func (s *Session) request(ctx context.Context, p PDU) (*Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	ch := make(chan *Response, 1)
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	s.nextID++
	h := p.PDUHeader()
	h.SessionID = s.id
	h.TransactionID = s.nextID
	h.PacketID = s.nextID
	s.pending[h.PacketID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, h.PacketID)
		s.mu.Unlock()
	}()
	if err := s.write(ctx, p); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r.Error != NoError {
			return r, &ResponseError{Request: p.pduType(), Status: r.Error, Index: r.Index}
		}
		return r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the answer to %s: %w", p.pduType(), ctx.Err())
	case <-s.done:
		return nil, s.Err()
	}
}

// write sends one PDU. A failed or partial write loses the framing, so it
// ends the session.
func (s *Session) write(ctx context.Context, p PDU) error {
	b, err := MarshalPDU(p)
	if err != nil {
		return err
	}
	return s.writeBytes(ctx, p.pduType(), b)
}

func (s *Session) writeBytes(ctx context.Context, t Type, b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		s.shutdown(err)
		return fmt.Errorf("writing %s: %w", t, err)
	}
	if _, err := s.conn.Write(b); err != nil {
		err = fmt.Errorf("writing %s: %w", t, err)
		s.shutdown(err)
		return err
	}
	return nil
}

// shutdown ends the session once, with err as the reason.
func (s *Session) shutdown(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	s.err = err
	close(s.done)
	s.conn.Close()
}

func (s *Session) readLoop() {
	defer s.wg.Done()
	br := bufio.NewReader(s.conn)
	for {
		p, err := ReadPDU(br, s.maxPDU)
		if err != nil {
			var me *MalformedPDUError
			if errors.As(err, &me) {
				// Still framed: answer parseError and go on (§7.2.2).
				s.log.Warn("malformed pdu from master", "err", err)
				s.answer(&me.Header, &Response{Error: ParseError})
				continue
			}
			s.shutdown(fmt.Errorf("reading from the master: %w", err))
			return
		}
		switch p := p.(type) {
		case *Response:
			s.mu.Lock()
			ch := s.pending[p.PacketID]
			s.mu.Unlock()
			if ch == nil {
				s.log.Debug("response to no request", "packet", p.PacketID)
				continue
			}
			select {
			case ch <- p:
			default: // a duplicate answer: the first one counts
			}
		case *Close:
			s.log.Info("master closed the session", "reason", p.Reason)
			s.shutdown(fmt.Errorf("%w (reason %d)", ErrClosedByMaster, p.Reason))
			return
		default:
			select {
			case s.requests <- p:
			case <-s.done:
				return
			}
		}
	}
}

func (s *Session) serveLoop() {
	defer s.wg.Done()
	for {
		select {
		case p := <-s.requests:
			if r := s.serve(p); r != nil {
				s.answer(p.PDUHeader(), r)
			}
		case <-s.done:
			return
		}
	}
}

// answer sends r as the Response to the request with header h.
func (s *Session) answer(h *Header, r *Response) {
	r.SessionID = h.SessionID
	r.TransactionID = h.TransactionID
	r.PacketID = h.PacketID
	b, err := MarshalPDU(r)
	if err != nil {
		// The handler returned a value that does not match its type.
		s.log.Error("encoding the answer", "packet", h.PacketID, "err", err)
		bad := &Response{Header: r.Header, Error: GenErr, Index: 1}
		for i, vb := range r.VarBinds {
			if _, err := appendVarBind(nil, vb); err != nil {
				bad.Index = uint16(min(i+1, 0xffff))
				break
			}
		}
		if b, err = MarshalPDU(bad); err != nil {
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := s.writeBytes(ctx, TypeResponse, b); err != nil {
		s.log.Warn("answering the master", "packet", h.PacketID, "err", err)
	}
}

// serve answers one request from the master; nil means no answer.
func (s *Session) serve(p PDU) (r *Response) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("handler panicked", "panic", v, "pdu", p.pduType())
			r = &Response{Error: GenErr, Index: 1}
		}
	}()
	switch p := p.(type) {
	case *Get:
		vbs := make([]VarBind, len(p.Ranges))
		for i, rg := range p.Ranges {
			vbs[i] = s.get(rg.Start)
		}
		return &Response{VarBinds: vbs}
	case *GetNext:
		vbs := make([]VarBind, len(p.Ranges))
		for i, rg := range p.Ranges {
			vbs[i] = s.getNext(rg)
		}
		return &Response{VarBinds: vbs}
	case *GetBulk:
		return &Response{VarBinds: s.getBulk(p)}
	case *TestSet:
		// Drover's MIB is read-only: refuse the first varbind (§7.2.4.1).
		return &Response{Error: NotWritable, Index: 1}
	case *CommitSet, *UndoSet:
		// Never sent after a refused TestSet; answer anyway so the master
		// does not wait.
		return &Response{Error: NotWritable}
	case *CleanupSet:
		return nil // no answer (§7.2.4.4)
	case *Ping:
		return &Response{}
	default:
		s.log.Warn("unexpected pdu from master", "pdu", p.pduType())
		return &Response{Error: ProcessingError}
	}
}

func (s *Session) get(oid OID) VarBind {
	vb := s.handler.Get(oid)
	if vb.Type == 0 || vb.Type == TypeEndOfMibView {
		vb = NoSuchObject(oid)
	}
	vb.Name = oid
	return vb
}

func (s *Session) getNext(r SearchRange) VarBind {
	vb := s.handler.GetNext(r)
	if vb.Type == 0 || vb.Type.IsException() || !InRange(vb.Name, r) {
		return EndOfMibView(r.Start)
	}
	return vb
}

// MaxBulkVarBinds bounds the varbinds of a GetBulk answer: rounds of
// repetitions stop before the answer would grow past it (RFC 3416 §4.2.3
// lets an agent answer with fewer repetitions).
const MaxBulkVarBinds = 1024

// getBulk follows RFC 2741 §7.2.3.3: the first NonRepeaters ranges once as
// GetNext, then MaxRepetitions rounds over the rest, each round starting
// (exclusively) after the previous round's object. A repeater at
// endOfMibView stays there; the rounds stop early once every repeater is.
func (s *Session) getBulk(p *GetBulk) []VarBind {
	n := min(int(p.NonRepeaters), len(p.Ranges))
	vbs := make([]VarBind, 0, n)
	for _, r := range p.Ranges[:n] {
		vbs = append(vbs, s.getNext(r))
	}
	reps := p.Ranges[n:]
	if len(reps) == 0 {
		return vbs
	}
	cur := make([]SearchRange, len(reps))
	copy(cur, reps)
	ended := make([]bool, len(reps))
	for range int(p.MaxRepetitions) {
		if len(vbs)+len(reps) > MaxBulkVarBinds && len(vbs) > n {
			break // a shorter answer is allowed; the manager asks again
		}
		all := true
		for j := range cur {
			var vb VarBind
			if ended[j] {
				vb = EndOfMibView(cur[j].Start)
			} else {
				vb = s.getNext(cur[j])
				if vb.Type == TypeEndOfMibView {
					ended[j] = true
				} else {
					cur[j] = SearchRange{Start: vb.Name, End: cur[j].End}
				}
			}
			all = all && ended[j]
			vbs = append(vbs, vb)
		}
		if all {
			break
		}
	}
	return vbs
}

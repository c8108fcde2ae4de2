package agentx

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// table is a Handler over a fixed set of objects, sorted by name.
type table []VarBind

func newTable(vbs ...VarBind) table {
	t := table(slices.Clone(vbs))
	slices.SortFunc(t, func(a, b VarBind) int { return a.Name.Compare(b.Name) })
	return t
}

func (t table) Get(oid OID) VarBind {
	for _, vb := range t {
		if vb.Name.Equal(oid) {
			return vb
		}
	}
	return NoSuchObject(oid)
}

func (t table) GetNext(r SearchRange) VarBind {
	for _, vb := range t {
		if InRange(vb.Name, r) {
			return vb
		}
	}
	return EndOfMibView(r.Start)
}

var base = mustOID("1.3.6.1.4.1.99999.1")

// testTable: three scalars (.1.0 .2.0 .3.0) and a two-row table with two
// columns (.4.1.1.{1,2} index, .4.1.2.{1,2} names).
func testTable() table {
	return newTable(
		String(base.Append(1, 0), "drover"),
		Integer(base.Append(2, 0), 3),
		Counter64(base.Append(3, 0), 1<<40),
		Integer(base.Append(4, 1, 1, 1), 1),
		Integer(base.Append(4, 1, 1, 2), 2),
		String(base.Append(4, 1, 2, 1), "alpha"),
		String(base.Append(4, 1, 2, 2), "beta"),
	)
}

// fakeMaster is the master side of a net.Pipe, driven step by step.
type fakeMaster struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	next uint32
}

func (m *fakeMaster) read() PDU {
	m.t.Helper()
	m.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := ReadPDU(m.r, 1<<16)
	if err != nil {
		m.t.Fatalf("master reading: %v", err)
	}
	return p
}

func (m *fakeMaster) write(p PDU) {
	m.t.Helper()
	b, err := MarshalPDU(p)
	if err != nil {
		m.t.Fatal(err)
	}
	m.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := m.conn.Write(b); err != nil {
		m.t.Fatalf("master writing: %v", err)
	}
}

// answer replies to the request p with res.error status.
func (m *fakeMaster) answer(p PDU, status ErrorStatus) {
	m.t.Helper()
	h := p.PDUHeader()
	m.write(&Response{Header: Header{SessionID: 42, TransactionID: h.TransactionID, PacketID: h.PacketID}, Error: status})
}

// ask sends a request to the subagent and returns its Response.
func (m *fakeMaster) ask(p PDU) *Response {
	m.t.Helper()
	m.next++
	*p.PDUHeader() = Header{SessionID: 42, TransactionID: m.next, PacketID: 1000 + m.next}
	m.write(p)
	r, ok := m.read().(*Response)
	if !ok {
		m.t.Fatalf("subagent answered %T", r)
	}
	if r.PacketID != 1000+m.next || r.TransactionID != m.next || r.SessionID != 42 {
		m.t.Fatalf("response header %+v does not match the request", r.Header)
	}
	return r
}

// async runs f in a goroutine and returns its error on a channel.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func wait(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("call did not return")
		return nil
	}
}

func openTestSession(t *testing.T, h Handler) (*Session, *fakeMaster) {
	t.Helper()
	sub, mc := net.Pipe()
	return openTestSessionOn(t, h, sub, mc)
}

func openTestSessionOn(t *testing.T, h Handler, sub, mc net.Conn) (*Session, *fakeMaster) {
	t.Helper()
	m := &fakeMaster{t: t, conn: mc, r: bufio.NewReader(mc)}
	t.Cleanup(func() { mc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var s *Session
	done := async(func() (err error) {
		s, err = OpenSession(ctx, sub, Config{
			ID: mustOID("1.3.6.1.4.1.99999"), Description: "drover test", Timeout: 3 * time.Second, Handler: h,
		})
		return err
	})
	o, ok := m.read().(*Open)
	if !ok {
		t.Fatalf("first pdu %T, want *Open", o)
	}
	if o.Timeout != 3 || string(o.Description) != "drover test" || !o.ID.Equal(mustOID("1.3.6.1.4.1.99999")) || o.SessionID != 0 {
		t.Errorf("open %+v", o)
	}
	m.answer(o, NoError)
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if s.ID() != 42 {
		t.Errorf("session id %d, want 42", s.ID())
	}
	return s, m
}

func TestSession(t *testing.T) {
	s, m := openTestSession(t, testTable())
	ctx := context.Background()

	// Register: the master sees our priority, range and session ID.
	done := async(func() error {
		return s.Register(ctx, Registration{Subtree: base, Priority: DefaultPriority, RangeSubID: 8, UpperBound: 4})
	})
	reg := m.read().(*Register)
	if reg.SessionID != 42 || reg.Priority != 127 || reg.RangeSubID != 8 || reg.UpperBound != 4 || !reg.Subtree.Equal(base) {
		t.Errorf("register %+v", reg)
	}
	m.answer(reg, NoError)
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}

	// A refused registration is a *ResponseError naming the status.
	done = async(func() error { return s.Register(ctx, Registration{Subtree: base, Priority: 127}) })
	m.answer(m.read(), DuplicateRegistration)
	var re *ResponseError
	if err := wait(t, done); !errors.As(err, &re) || re.Status != DuplicateRegistration {
		t.Errorf("duplicate register: %v", err)
	}

	t.Run("get three varbinds", func(t *testing.T) {
		r := m.ask(&Get{Ranges: []SearchRange{
			{Start: base.Append(2, 0)},
			{Start: base.Append(9, 0)}, // no such object
			{Start: base.Append(1, 0)},
		}})
		want := []VarBind{Integer(base.Append(2, 0), 3), NoSuchObject(base.Append(9, 0)), String(base.Append(1, 0), "drover")}
		if diff := cmp.Diff(want, r.VarBinds, cmpOpts...); diff != "" || r.Error != NoError {
			t.Errorf("error %s, varbinds (-want +got):\n%s", r.Error, diff)
		}
	})

	t.Run("getnext across a range end", func(t *testing.T) {
		r := m.ask(&GetNext{Ranges: []SearchRange{
			{Start: base.Append(1, 0), End: base.Append(2)},                      // next is .2.0: outside
			{Start: base.Append(1, 0), End: base.Append(4)},                      // .2.0
			{Start: base.Append(4, 1, 1), End: base.Append(5)},                   // first row
			{Start: base.Append(4, 1, 1, 2), Include: true, End: base.Append(5)}, // itself
			{Start: base.Append(4, 1, 2, 2)},                                     // past the last
		}})
		want := []VarBind{
			EndOfMibView(base.Append(1, 0)),
			Integer(base.Append(2, 0), 3),
			Integer(base.Append(4, 1, 1, 1), 1),
			Integer(base.Append(4, 1, 1, 2), 2),
			EndOfMibView(base.Append(4, 1, 2, 2)),
		}
		if diff := cmp.Diff(want, r.VarBinds, cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("getbulk", func(t *testing.T) {
		// One non-repeater, two repeaters (the table's columns), three rounds:
		// the third round finds both columns ended (RFC 2741 §7.2.3.3).
		r := m.ask(&GetBulk{NonRepeaters: 1, MaxRepetitions: 5, Ranges: []SearchRange{
			{Start: base.Append(1)},
			{Start: base.Append(4, 1, 1), End: base.Append(4, 1, 2)},
			{Start: base.Append(4, 1, 2), End: base.Append(4, 1, 3)},
		}})
		want := []VarBind{
			String(base.Append(1, 0), "drover"),
			Integer(base.Append(4, 1, 1, 1), 1), String(base.Append(4, 1, 2, 1), "alpha"),
			Integer(base.Append(4, 1, 1, 2), 2), String(base.Append(4, 1, 2, 2), "beta"),
			EndOfMibView(base.Append(4, 1, 1, 2)), EndOfMibView(base.Append(4, 1, 2, 2)),
		}
		if diff := cmp.Diff(want, r.VarBinds, cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		// Max-repetitions bounds the rounds; a repeater that ended stays ended.
		r = m.ask(&GetBulk{MaxRepetitions: 2, Ranges: []SearchRange{
			{Start: base.Append(3, 0)},
			{Start: base.Append(4, 1, 2, 2)},
		}})
		want = []VarBind{
			Integer(base.Append(4, 1, 1, 1), 1), EndOfMibView(base.Append(4, 1, 2, 2)),
			Integer(base.Append(4, 1, 1, 2), 2), EndOfMibView(base.Append(4, 1, 2, 2)),
		}
		if diff := cmp.Diff(want, r.VarBinds, cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		// Non-repeaters beyond the ranges: all are non-repeaters.
		r = m.ask(&GetBulk{NonRepeaters: 9, MaxRepetitions: 9, Ranges: []SearchRange{{Start: base.Append(2, 0)}}})
		if diff := cmp.Diff([]VarBind{Counter64(base.Append(3, 0), 1<<40)}, r.VarBinds, cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("sets are refused", func(t *testing.T) {
		r := m.ask(&TestSet{VarBinds: []VarBind{Integer(base.Append(2, 0), 4)}})
		if r.Error != NotWritable || r.Index != 1 {
			t.Errorf("testset answered %s index %d, want notWritable index 1", r.Error, r.Index)
		}
		// CleanupSet is not answered: the next answer is the Ping's.
		m.write(&CleanupSet{Header: Header{SessionID: 42, TransactionID: 99, PacketID: 99}})
		if r := m.ask(&Ping{}); r.Error != NoError {
			t.Errorf("ping answered %s", r.Error)
		}
	})

	t.Run("malformed pdu answered with parseError", func(t *testing.T) {
		m.conn.Write(hx(`01 13 10 00 0000002a 00000001 00000077 00000004 00000000`)) // unknown type 19
		r := m.read().(*Response)
		if r.Error != ParseError || r.PacketID != 0x77 {
			t.Errorf("answered %s for packet %d", r.Error, r.PacketID)
		}
	})

	t.Run("notify", func(t *testing.T) {
		vbs := []VarBind{
			TimeTicks(mustOID("1.3.6.1.2.1.1.3.0"), 100),
			ObjectID(mustOID("1.3.6.1.6.3.1.1.4.1.0"), mustOID("1.3.6.1.4.1.99999.0.1")),
			IPAddress(base.Append(5, 0), netip.MustParseAddr("192.0.2.7")),
		}
		done := async(func() error { return s.Notify(ctx, vbs...) })
		n := m.read().(*Notify)
		if diff := cmp.Diff(vbs, n.VarBinds, cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		m.answer(n, NoError)
		if err := wait(t, done); err != nil {
			t.Error(err)
		}
	})

	t.Run("ping and answers matched by packet id", func(t *testing.T) {
		// Two pings in flight, answered in reverse order.
		d1 := async(func() error { return s.Ping(ctx) })
		p1 := m.read()
		d2 := async(func() error { return s.Ping(ctx) })
		p2 := m.read()
		m.answer(p2, NoError)
		if err := wait(t, d2); err != nil {
			t.Error(err)
		}
		m.answer(p1, NotOpen)
		if err := wait(t, d1); !errors.As(err, &re) || re.Status != NotOpen {
			t.Errorf("first ping: %v, want notOpen", err)
		}
	})

	t.Run("index allocation", func(t *testing.T) {
		var got []VarBind
		done := async(func() (err error) {
			got, err = s.IndexAllocate(ctx, false, true, Integer(base.Append(4, 1, 1), 0))
			return err
		})
		a := m.read().(*IndexAllocate)
		if a.Flags&FlagAnyIndex == 0 || a.Flags&FlagNewIndex != 0 || len(a.VarBinds) != 1 {
			t.Errorf("allocate %+v", a)
		}
		m.write(&Response{Header: Header{SessionID: 42, TransactionID: a.TransactionID, PacketID: a.PacketID},
			VarBinds: []VarBind{Integer(base.Append(4, 1, 1), 3)}})
		if err := wait(t, done); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]VarBind{Integer(base.Append(4, 1, 1), 3)}, got, cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		done = async(func() error { return s.IndexDeallocate(ctx, got...) })
		m.answer(m.read().(*IndexDeallocate), NoError)
		if err := wait(t, done); err != nil {
			t.Error(err)
		}
	})

	t.Run("ping times out", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		done := async(func() error { return s.Ping(ctx) })
		m.read() // never answered
		if err := wait(t, done); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want DeadlineExceeded", err)
		}
	})

	// Close: the master sees the reason, answers, and the session ends.
	done = async(func() error { return s.Close(ctx, ReasonShutdown) })
	c := m.read().(*Close)
	if c.Reason != ReasonShutdown || c.SessionID != 42 {
		t.Errorf("close %+v", c)
	}
	m.answer(c, NoError)
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
	<-s.Done()
	if err := s.Ping(ctx); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("ping after close: %v", err)
	}
}

func TestSessionClosedByMaster(t *testing.T) {
	s, m := openTestSession(t, testTable())
	m.write(&Close{Header: Header{SessionID: 42}, Reason: ReasonByManager})
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end")
	}
	if !errors.Is(s.Err(), ErrClosedByMaster) {
		t.Errorf("Err() = %v", s.Err())
	}
}

// A master that never answers Open: OpenSession gives up with ctx.
func TestOpenTimeout(t *testing.T) {
	sub, mc := net.Pipe()
	defer mc.Close()
	go func() { ReadPDU(mc, 1<<16) }()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := OpenSession(ctx, sub, Config{Handler: testTable()})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
}

type panicky struct{ table }

func (panicky) Get(OID) VarBind { panic("boom") }

// A panicking handler is answered with genErr; the session goes on.
func TestHandlerPanic(t *testing.T) {
	s, m := openTestSession(t, panicky{testTable()})
	r := m.ask(&Get{Ranges: []SearchRange{{Start: base.Append(1, 0)}}})
	if r.Error != GenErr {
		t.Errorf("answered %s, want genErr", r.Error)
	}
	r = m.ask(&GetNext{Ranges: []SearchRange{{Start: base}}})
	if len(r.VarBinds) != 1 || !r.VarBinds[0].Name.Equal(base.Append(1, 0)) {
		t.Errorf("getnext after the panic: %+v", r.VarBinds)
	}
	done := async(func() error { return s.Close(context.Background(), ReasonShutdown) })
	m.answer(m.read(), NoError)
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
}

type badValue struct{ table }

func (badValue) Get(oid OID) VarBind { return VarBind{Type: TypeInteger, Name: oid, Value: "three"} }

// A handler value that does not match its type is answered with genErr
// naming the varbind, not left unanswered.
func TestHandlerBadValue(t *testing.T) {
	s, m := openTestSession(t, badValue{testTable()})
	r := m.ask(&Get{Ranges: []SearchRange{{Start: base.Append(1, 0)}, {Start: base.Append(2, 0)}}})
	if r.Error != GenErr || r.Index != 1 {
		t.Errorf("answered %s index %d, want genErr index 1", r.Error, r.Index)
	}
	// Two answers to one ping: the second is dropped, the reader goes on.
	done := async(func() error { return s.Ping(context.Background()) })
	p := m.read()
	m.answer(p, NoError)
	m.answer(p, NoError)
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
	done = async(func() error { return s.Close(context.Background(), ReasonShutdown) })
	m.answer(m.read(), NoError)
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
}

// A huge GetBulk is cut at whole rounds below MaxBulkVarBinds.
func TestGetBulkBounded(t *testing.T) {
	var objs []VarBind
	for i := range uint32(3000) {
		objs = append(objs, Integer(base.Append(4, 1, 1, i), int32(i)))
	}
	s, m := openTestSession(t, newTable(objs...))
	r := m.ask(&GetBulk{MaxRepetitions: 65535, Ranges: []SearchRange{{Start: base}, {Start: base}, {Start: base}}})
	if n := len(r.VarBinds); n > MaxBulkVarBinds || n%3 != 0 || n < MaxBulkVarBinds-3 {
		t.Errorf("answered %d varbinds, want whole rounds up to %d", n, MaxBulkVarBinds)
	}
	done := async(func() error { return s.Close(context.Background(), ReasonShutdown) })
	m.answer(m.read(), NoError)
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
}

// Over TCP loopback, a request split across writes and two requests in
// one write are both answered in order.
func TestSessionTCPFraming(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	sub, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	mc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	s, m := openTestSessionOn(t, testTable(), sub, mc)

	get := func(id uint32, o OID) []byte {
		b, err := MarshalPDU(&Get{Header: Header{SessionID: 42, TransactionID: id, PacketID: id}, Ranges: []SearchRange{{Start: o}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one := get(1, base.Append(1, 0))
	// The pauses make the subagent's reads likely to end mid-PDU; nothing
	// depends on their length.
	mc.Write(one[:7]) // inside the header
	time.Sleep(10 * time.Millisecond)
	mc.Write(one[7:30]) // inside the payload
	time.Sleep(10 * time.Millisecond)
	mc.Write(append(one[30:], append(get(2, base.Append(2, 0)), get(3, base.Append(3, 0))...)...))
	want := []VarBind{String(base.Append(1, 0), "drover"), Integer(base.Append(2, 0), 3), Counter64(base.Append(3, 0), 1<<40)}
	for i, w := range want {
		r := m.read().(*Response)
		if r.PacketID != uint32(i+1) {
			t.Errorf("answer %d is for packet %d", i+1, r.PacketID)
		}
		if diff := cmp.Diff([]VarBind{w}, r.VarBinds, cmpOpts...); diff != "" {
			t.Errorf("packet %d (-want +got):\n%s", i+1, diff)
		}
	}
	done := async(func() error { return s.Close(context.Background(), ReasonShutdown) })
	m.answer(m.read(), NoError)
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
}

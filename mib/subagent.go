package mib

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/droverha/drover/mib/agentx"
	"github.com/droverha/drover/model"
)

var _ Sink = (*Subagent)(nil)

// Subagent defaults.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second
	DefaultQueueLen   = 256
	// PingInterval is how often an idle session checks that the master
	// is still there: a master that died without closing the socket (a
	// TCP peer gone) is noticed within about PingInterval plus the
	// request timeout.
	PingInterval = 15 * time.Second
	// warnAfter is how many failed connection attempts in a row are
	// logged at Debug before one Warn.
	warnAfter = 10
)

// SubagentConfig configures NewSubagent.
type SubagentConfig struct {
	// Network and Address name the master's AgentX socket: "unix" and
	// "/var/agentx/master", or "tcp" and "127.0.0.1:705".
	Network, Address string
	// View returns the cluster view; it is called when a snapshot is
	// (re)built, never for every request.
	View func() model.View
	// Logger; nil discards.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between connection
	// attempts, which doubles from MinBackoff after each failure
	// (defaults DefaultMinBackoff and DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	// QueueLen is how many notifications are kept while the master is
	// unreachable or slow (default DefaultQueueLen); beyond it the oldest
	// is dropped and counted.
	QueueLen int
	// Description is o.descr, shown by the master (default "Drover
	// cluster agent").
	Description string
	// Zero, for tests, fixes the instant TimeStamp objects count from.
	// The zero value takes it from the master: its sysUpTime in the
	// answer to Open, so TimeStamps agree with the master's sysUpTime.
	// Notifications' sysUpTime.0 always follows the master.
	Zero time.Time
}

// SubagentStats says how the subagent fares; see Subagent.Stats.
type SubagentStats struct {
	// Connected: a session is open and the subtree registered.
	Connected bool
	// Sessions is how many sessions were opened and registered.
	Sessions uint64
	// Reconnects is how many of those followed the loss of an earlier one.
	Reconnects uint64
	// NotificationsSent were accepted by the master.
	NotificationsSent uint64
	// NotificationsDropped were pushed out of a full queue, or refused or
	// not answered by the master.
	NotificationsDropped uint64
	// LastError is the last failure (connecting, registering, pinging,
	// notifying), "" if none yet.
	LastError string
}

// Subagent serves DROVER-MIB to an AgentX master agent (RFC 2741), such
// as net-snmp's snmpd, and sends notifications through it. Run keeps a
// session open, reconnecting with backoff; nothing it does blocks the
// caller of Notify or Stats.
type Subagent struct {
	cfg        SubagentConfig
	log        *slog.Logger
	sessionLog *slog.Logger // for agentx.Session, which adds its component

	// wake is signalled (without blocking) when a notification is queued.
	wake chan struct{}

	mu    sync.Mutex // guards queue, stats and snaps
	queue []queued
	stats SubagentStats
	snaps *Snapshots // the latest session's, nil before the first
}

// queued is a notification and when Drover raised it: its sysUpTime.0.
type queued struct {
	n  Notification
	at time.Time
}

// NewSubagent returns a subagent for c; Run starts it.
func NewSubagent(c SubagentConfig) *Subagent {
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.Description == "" {
		c.Description = "Drover cluster agent"
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	master := c.Network + ":" + c.Address
	return &Subagent{
		cfg:        c,
		log:        log.With("component", "subagent", "master", master),
		sessionLog: log.With("master", master),
		wake:       make(chan struct{}, 1),
	}
}

// Stats returns the subagent's counters and state.
func (s *Subagent) Stats() SubagentStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Notify queues n for the master and returns at once. Notifications are
// sent in order, each with sysUpTime.0 (when Notify was called, in the
// master's sysUpTime; 0 if that was before the master started) and
// snmpTrapOID.0 first. While no session is open they wait in the queue;
// when the queue is full the oldest is dropped.
func (s *Subagent) Notify(n Notification) {
	s.mu.Lock()
	if len(s.queue) >= s.cfg.QueueLen {
		s.dropLocked(len(s.queue) - s.cfg.QueueLen + 1)
	}
	s.queue = append(s.queue, queued{n: n, at: time.Now()})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Pending is the number of notifications waiting to be sent.
func (s *Subagent) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// dropLocked drops the k oldest notifications.
func (s *Subagent) dropLocked(k int) {
	s.log.Debug("notification queue full: dropping the oldest", "dropped", k)
	s.queue = append(s.queue[:0], s.queue[k:]...)
	s.stats.NotificationsDropped += uint64(k)
}

func (s *Subagent) failedLocked(err error) { s.stats.LastError = err.Error() }

func (s *Subagent) failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failedLocked(err)
}

// Run connects to the master, registers droverMIB and serves it until ctx
// ends; a lost session is opened again after a backoff. It returns nil
// once ctx is done (after closing the session with reason shutdown), or
// an error at once when the configuration cannot work.
func (s *Subagent) Run(ctx context.Context) error {
	if s.cfg.View == nil {
		return errors.New("running the agentx subagent: no view")
	}
	if s.cfg.Network == "" || s.cfg.Address == "" {
		return errors.New("running the agentx subagent: no master address")
	}
	backoff := s.cfg.MinBackoff
	failures := 0
	everOpen := false
	for {
		sess, zero, err := s.open(ctx)
		if err == nil {
			s.mu.Lock()
			s.stats.Sessions++
			if everOpen {
				s.stats.Reconnects++
			}
			s.stats.Connected = true
			s.mu.Unlock()
			everOpen = true
			s.log.Info("registered with the agentx master", "session", sess.ID(), "failures", failures)
			failures = 0

			opened := time.Now()
			err = s.serve(ctx, sess, zero)

			s.mu.Lock()
			s.stats.Connected = false
			s.mu.Unlock()
			if ctx.Err() != nil {
				return nil
			}
			s.failed(err)
			s.log.Info("agentx session lost", "err", err)
			// A session that lived a while restarts the backoff; one that
			// dies at once (a master that refuses us) keeps it growing.
			if time.Since(opened) > s.cfg.MaxBackoff {
				backoff = s.cfg.MinBackoff
			}
		} else {
			if ctx.Err() != nil {
				return nil
			}
			s.failed(err)
			failures++
			switch {
			case failures == warnAfter:
				s.log.Warn("cannot reach the agentx master; still trying", "failures", failures, "err", err)
			default:
				s.log.Debug("connecting to the agentx master", "failures", failures, "backoff", backoff, "err", err)
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// open dials the master, opens a session, registers droverMIB and
// advertises droverCompliance. zero is when the master's sysUpTime was 0.
func (s *Subagent) open(ctx context.Context) (sess *agentx.Session, zero time.Time, err error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, s.cfg.Network, s.cfg.Address)
	if err != nil {
		return nil, zero, fmt.Errorf("connecting to the agentx master: %w", err)
	}
	h := &lateHandler{}
	sess, err = agentx.OpenSession(dctx, conn, agentx.Config{
		ID:          SysObjectID,
		Description: s.cfg.Description,
		Handler:     h,
		Logger:      s.sessionLog,
	})
	if err != nil {
		return nil, zero, err
	}
	ticks, at := sess.MasterUpTime()
	zero = at.Add(-time.Duration(ticks) * 10 * time.Millisecond)
	// The master sends requests only once the subtree is registered, so
	// the snapshots are in place before the first one.
	h.snaps.Store(s.snapshots(zero))
	fail := func(err error) (*agentx.Session, time.Time, error) {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		sess.Close(cctx, agentx.ReasonOther)
		return nil, time.Time{}, err
	}
	if err := sess.Register(dctx, agentx.Registration{Subtree: Root, Priority: agentx.DefaultPriority}); err != nil {
		return fail(err)
	}
	if err := sess.AddAgentCaps(dctx, Compliance, "Drover cluster agent"); err != nil {
		return fail(err)
	}
	return sess, zero, nil
}

// snapshots returns the Snapshots for a new session with a master whose
// sysUpTime was 0 at zero: the previous one when its zero still holds (the
// same master, reconnected), so its trees and counter discontinuities
// carry over; a new one for a restarted master.
func (s *Subagent) snapshots(zero time.Time) *Snapshots {
	if !s.cfg.Zero.IsZero() {
		zero = s.cfg.Zero
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// sysUpTime counts centiseconds and the answer takes a moment to
	// arrive: the same master gives zeros a few ticks apart.
	if s.snaps == nil || (zero.Sub(s.snaps.Zero())).Abs() > time.Second {
		s.snaps = NewSnapshots(s.cfg.View, zero)
	}
	return s.snaps
}

// serve runs an open session until it ends or ctx does: it pings the
// master every PingInterval and sends queued notifications, stamped with
// sysUpTime counted from zero. It returns why the session ended.
func (s *Subagent) serve(ctx context.Context, sess *agentx.Session, zero time.Time) error {
	var wg sync.WaitGroup
	sctx, stop := context.WithCancel(ctx)
	wg.Go(func() { s.sendLoop(sctx, sess, zero) })
	defer func() {
		stop()
		wg.Wait()
	}()

	ping := time.NewTicker(PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := sess.Close(cctx, agentx.ReasonShutdown); err != nil {
				s.log.Debug("closing the agentx session", "err", err)
			}
			s.log.Info("agentx session closed")
			return ctx.Err()
		case <-sess.Done():
			return sess.Err()
		case <-ping.C:
			if err := sess.Ping(ctx); err != nil && ctx.Err() == nil {
				// A master that does not answer (or forgot us) is as
				// good as gone: start over.
				cctx, cancel := context.WithTimeout(context.Background(), time.Second)
				sess.Close(cctx, agentx.ReasonTimeouts)
				cancel()
				return err
			}
		}
	}
}

// sendLoop sends queued notifications through sess, oldest first, until
// ctx ends or the session does.
func (s *Subagent) sendLoop(ctx context.Context, sess *agentx.Session, zero time.Time) {
	for {
		s.mu.Lock()
		var q queued
		ok := len(s.queue) > 0
		if ok {
			q = s.queue[0]
			s.queue = append(s.queue[:0], s.queue[1:]...)
		}
		s.mu.Unlock()
		if !ok {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			case <-sess.Done():
				return
			}
		}
		err := sess.Notify(ctx, notifyVarBinds(q, zero)...)
		s.mu.Lock()
		var re *agentx.ResponseError
		switch {
		case err == nil:
			s.stats.NotificationsSent++
		case errors.As(err, &re) && re.Status == agentx.NotOpen:
			// The master forgot the session: send it on the next one.
			s.queue = append([]queued{q}, s.queue...)
			s.failedLocked(err)
			s.mu.Unlock()
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			sess.Close(cctx, agentx.ReasonProtocolError)
			return
		case errors.As(err, &re):
			// The master refused this one; sending it again would not help.
			s.stats.NotificationsDropped++
			s.failedLocked(err)
			s.log.Warn("the agentx master refused a notification", "trap", q.n.TrapOID.String(), "err", err)
		case ctx.Err() != nil || isDone(sess):
			// Not sent, or not known to be: keep it for the next session,
			// unless newer ones filled the queue meanwhile.
			s.queue = append([]queued{q}, s.queue...)
			if len(s.queue) > s.cfg.QueueLen {
				s.dropLocked(len(s.queue) - s.cfg.QueueLen)
			}
			s.mu.Unlock()
			return
		default:
			// No answer in time from a master still connected: it may
			// or may not have it. Drop it rather than risk a duplicate;
			// the pings will tell whether the master is gone.
			s.stats.NotificationsDropped++
			s.failedLocked(err)
			s.log.Warn("notification not acknowledged by the agentx master", "trap", q.n.TrapOID.String(), "err", err)
		}
		s.mu.Unlock()
	}
}

func isDone(sess *agentx.Session) bool {
	select {
	case <-sess.Done():
		return true
	default:
		return false
	}
}

// notifyVarBinds is the Notify PDU's varbinds for q (RFC 3416 §4.2.6):
// sysUpTime.0, snmpTrapOID.0, then the notification's own.
func notifyVarBinds(q queued, zero time.Time) []agentx.VarBind {
	vbs := make([]agentx.VarBind, 0, 2+len(q.n.VarBinds))
	vbs = append(vbs,
		agentx.TimeTicks(SysUpTime0, ticksSince(zero, q.at)),
		agentx.ObjectID(SnmpTrapOID0, q.n.TrapOID))
	return append(vbs, q.n.VarBinds...)
}

// ticksSince is t in centiseconds after zero, 0 before it.
func ticksSince(zero, t time.Time) uint32 {
	d := t.Sub(zero)
	if d <= 0 {
		return 0
	}
	return uint32(d / (10 * time.Millisecond)) // wraps after 497 days, as sysUpTime does
}

// lateHandler serves from snapshots set after the session opened: the
// master's sysUpTime, which they count from, comes in the answer to Open.
type lateHandler struct {
	snaps atomic.Pointer[Snapshots]
}

func (h *lateHandler) Get(oid agentx.OID) agentx.VarBind {
	if sn := h.snaps.Load(); sn != nil {
		return sn.Tree(time.Now()).Get(oid)
	}
	return agentx.NoSuchObject(oid)
}

func (h *lateHandler) GetNext(r agentx.SearchRange) agentx.VarBind {
	if sn := h.snaps.Load(); sn != nil {
		return sn.Tree(time.Now()).GetNext(r)
	}
	return agentx.EndOfMibView(r.Start)
}

// currentSnapshots is the latest session's snapshots, nil before the
// first session.
func (s *Subagent) currentSnapshots() *Snapshots {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snaps
}

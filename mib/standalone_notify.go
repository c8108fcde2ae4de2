package mib

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/droverha/drover/mib/agentx"
)

// notifySender sends notifications to one receiver from its own queue, so
// that a receiver that does not answer informs delays only itself.
type notifySender struct {
	r    Receiver
	host string
	port uint16
	user *usmUser // SNMPv3

	wake chan struct{} // signalled, without blocking, when a notification is queued

	mu    sync.Mutex // guards queue
	queue []pendingNote
}

// pendingNote is a notification and when Notify was called: its
// sysUpTime.0.
type pendingNote struct {
	n  Notification
	at time.Time
}

func (a *Standalone) newSender(r Receiver) (*notifySender, error) {
	host, port, err := net.SplitHostPort(r.Address)
	if err != nil {
		return nil, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("port %q", port)
	}
	s := &notifySender{r: r, host: host, port: uint16(p), wake: make(chan struct{}, 1)}
	switch r.Version {
	case "2c":
		if r.Community == "" || len(r.Community) > 127 {
			return nil, fmt.Errorf("community of %d octets, want 1 to 127", len(r.Community))
		}
	case "3":
		if s.user = a.users[r.User]; s.user == nil {
			return nil, fmt.Errorf("user %q is not one of the configured users", r.User)
		}
	default:
		return nil, fmt.Errorf(`version %q, want "2c" or "3"`, r.Version)
	}
	return s, nil
}

// Notify queues n for every receiver and returns at once. A receiver's
// queue holds StandaloneQueueLen notifications; when it is full the
// oldest is dropped and counted. Notifications queued before Run are sent
// once it starts.
func (a *Standalone) Notify(n Notification) {
	at := a.now()
	for _, s := range a.senders {
		s.mu.Lock()
		if len(s.queue) >= StandaloneQueueLen {
			s.queue = append(s.queue[:0], s.queue[1:]...)
			a.stats.dropped.Add(1)
		}
		s.queue = append(s.queue, pendingNote{n, at})
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Pending is the number of notifications waiting in the receivers'
// queues.
func (a *Standalone) Pending() int {
	n := 0
	for _, s := range a.senders {
		s.mu.Lock()
		n += len(s.queue)
		s.mu.Unlock()
	}
	return n
}

func (s *notifySender) pop() (pendingNote, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return pendingNote{}, false
	}
	q := s.queue[0]
	s.queue = append(s.queue[:0], s.queue[1:]...)
	return q, true
}

// run sends queued notifications, oldest first, until ctx ends.
func (s *notifySender) run(ctx context.Context, a *Standalone) {
	log := a.log.With("receiver", s.r.Address)
	var g *gosnmp.GoSNMP
	defer func() {
		if g != nil {
			g.Close()
		}
	}()
	for {
		q, ok := s.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				continue
			}
		}
		if g == nil {
			var err error
			if g, err = s.client(ctx, a); err != nil {
				a.stats.sendFailed.Add(1)
				log.Warn("snmp notification not sent", "trap", q.n.TrapOID.String(), "err", err)
				g = nil
				continue
			}
		}
		err := s.send(g, a, q)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.stats.sendFailed.Add(1)
			log.Warn("snmp notification not sent", "trap", q.n.TrapOID.String(), "err", err)
			continue
		}
		a.stats.sent.Add(1)
	}
}

// client is a gosnmp client for the receiver, its socket closed when ctx
// ends so that a wait for an inform's answer ends too.
func (s *notifySender) client(ctx context.Context, a *Standalone) (*gosnmp.GoSNMP, error) {
	g := &gosnmp.GoSNMP{
		Target:    s.host,
		Port:      s.port,
		Transport: "udp",
		Context:   ctx,
		Timeout:   a.informTimeout,
		Retries:   a.informRetries,
		MaxOids:   gosnmp.MaxOids,
	}
	switch s.r.Version {
	case "2c":
		g.Version, g.Community = gosnmp.Version2c, s.r.Community
	case "3":
		g.Version, g.SecurityModel, g.MsgFlags = gosnmp.Version3, gosnmp.UserSecurityModel, gosnmp.AuthPriv
		sp := s.user.params(nil)
		sp.SecretKey, sp.PrivacyKey = nil, nil // localized to the receiver's engine, found by discovery
		if !s.r.Inform {
			// A trap's sender is authoritative (RFC 3414 §1.5.1).
			sp = s.user.params(a.engineID)
			sp.AuthoritativeEngineBoots = a.boots
		}
		g.SecurityParameters = sp
	}
	if err := g.Connect(); err != nil {
		return nil, err
	}
	// Close the socket itself, not through g.Close, which would race
	// with the send that reads g.Conn.
	conn := g.Conn
	context.AfterFunc(ctx, func() { conn.Close() })
	return g, nil
}

// send sends q: sysUpTime.0, snmpTrapOID.0, then its varbinds
// (RFC 3416 §4.2.6).
func (s *notifySender) send(g *gosnmp.GoSNMP, a *Standalone, q pendingNote) error {
	vars := make([]gosnmp.SnmpPDU, 0, 2+len(q.n.VarBinds))
	vars = append(vars,
		toPDU(agentx.TimeTicks(SysUpTime0, sysUpTicks(a.zero, q.at))),
		toPDU(agentx.ObjectID(SnmpTrapOID0, q.n.TrapOID)))
	for _, vb := range q.n.VarBinds {
		vars = append(vars, toPDU(vb))
	}
	if sp, ok := g.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok && !s.r.Inform {
		sp.AuthoritativeEngineTime = a.engineTime(a.now())
	}
	res, err := g.SendTrap(gosnmp.SnmpTrap{Variables: vars, IsInform: s.r.Inform})
	if err != nil {
		return err
	}
	if s.r.Inform && res != nil && res.Error != gosnmp.NoError {
		return fmt.Errorf("inform refused: %s", res.Error)
	}
	if s.r.Inform && res != nil && res.PDUType == gosnmp.Report {
		return errors.New("inform answered with a report")
	}
	return nil
}

package mib

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/mib/agentx"
	"github.com/droverha/drover/model"
)

// Notification is one SNMP notification of DROVER-MIB: its snmpTrapOID
// and the varbinds that follow sysUpTime.0 and snmpTrapOID.0, in the order
// of the NOTIFICATION-TYPE's OBJECTS.
type Notification struct {
	TrapOID  agentx.OID
	VarBinds []agentx.VarBind
}

// Well-known OIDs of SNMPv2-MIB that every notification carries.
var (
	SysUpTime0   = agentx.OID{1, 3, 6, 1, 2, 1, 1, 3, 0}
	SnmpTrapOID0 = agentx.OID{1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0}
)

// Notifications of DROVER-MIB (droverNotifications.n).
const (
	notifyNodeUp               = 1
	notifyNodeDown             = 2
	notifyManagerElected       = 3
	notifyQuorumLost           = 4
	notifyQuorumRegained       = 5
	notifyVipGroupMoved        = 6
	notifyRealServerUp         = 7
	notifyRealServerDown       = 8
	notifyServiceQuorumLost    = 9
	notifyServiceQuorumRegaind = 10
)

// FromEvent returns the notification a Drover event makes, and false for
// an event that makes none (or is malformed). Values come from the event
// itself; those an event does not carry (a service's healthy weight, the
// voters a quorum needs) from v, the view at the time of sending.
func FromEvent(e bus.Event, v model.View) (Notification, bool) {
	d, err := e.Payload()
	if err != nil {
		return Notification{}, false
	}
	n := func(id uint32, vbs ...agentx.VarBind) (Notification, bool) {
		return Notification{TrapOID: NotificationsOID.Append(id), VarBinds: vbs}, true
	}
	scalar := func(col uint32) agentx.OID { return Objects.Append(cluster, col, 0) }
	switch e.DroverType() {
	case bus.EventNodeAlive, bus.EventNodeJoined:
		return nodeNote(notifyNodeUp, d, model.NodeAlive)
	case bus.EventNodeDead:
		return nodeNote(notifyNodeDown, d, model.NodeDead)
	case bus.EventNodeLeft:
		return nodeNote(notifyNodeDown, d, model.NodeLeft)
	case bus.EventManagerElected:
		if d.Node == "" {
			return Notification{}, false
		}
		return n(notifyManagerElected,
			agentx.String(scalar(3), d.Node),
			agentx.Counter64(scalar(4), max(d.Epoch, e.Epoch)))
	case bus.EventQuorumLost, bus.EventQuorumRegained:
		id, state := uint32(notifyQuorumLost), int32(2)
		if e.DroverType() == bus.EventQuorumRegained {
			id, state = notifyQuorumRegained, 1
		}
		needed := v.Quorum.Needed
		if d.Voters > 0 {
			needed = d.Voters/2 + 1
		}
		return n(id,
			agentx.Integer(scalar(5), state),
			agentx.Gauge32(scalar(7), uint32(max(d.Present, 0))),
			agentx.Gauge32(scalar(8), uint32(max(needed, 0))))
	case bus.EventVIPMoved:
		if d.Group == "" {
			return Notification{}, false
		}
		g := NameHash(d.Group)
		col := func(c uint32) agentx.OID { return Column(vipGroupTbl, c).Append(g) }
		return n(notifyVipGroupMoved,
			agentx.String(col(2), d.Group),
			agentx.String(col(4), d.To),
			agentx.String(col(5), d.From),
			agentx.String(col(8), d.Reason),
			agentx.Counter64(col(10), max(d.Epoch, e.Epoch)))
	case bus.EventRealServerUp, bus.EventRealServerDown:
		id, state := uint32(notifyRealServerUp), int32(1)
		if e.DroverType() == bus.EventRealServerDown {
			id, state = notifyRealServerDown, 2
		}
		vs := NameHash(d.Service)
		ri, ok := RealServerIndex(vs, d.RealServer)
		if d.Service == "" || !ok {
			return Notification{}, false
		}
		col := func(c uint32) agentx.OID { return Column(rsTable, c).Append(ri...) }
		return n(id,
			agentx.String(Column(vsTable, 2).Append(vs), d.Service),
			agentx.String(col(4), d.RealServer),
			agentx.Integer(col(7), state),
			agentx.String(col(12), d.Reason))
	case bus.EventQuorumLostService, bus.EventQuorumRegainedSvc:
		if d.Service == "" {
			return Notification{}, false
		}
		lost := e.DroverType() == bus.EventQuorumLostService
		id, state, bound := uint32(notifyServiceQuorumRegaind), int32(1), uint32(15)
		if lost {
			id, state, bound = notifyServiceQuorumLost, 2, 14
		}
		var sv model.ServiceView
		for _, s := range v.Services {
			if s.Name == d.Service {
				sv = s
			}
		}
		limit := sv.Quorum.RegainAt
		if lost {
			limit = sv.Quorum.Needed
		}
		vs := NameHash(d.Service)
		col := func(c uint32) agentx.OID { return Column(vsTable, c).Append(vs) }
		return n(id,
			agentx.String(col(2), d.Service),
			agentx.Integer(col(12), state),
			agentx.Gauge32(col(13), uint32(max(sv.Quorum.HealthyWeight, 0))),
			agentx.Gauge32(col(bound), uint32(max(limit, 0))),
			agentx.Integer(col(16), truth(sv.SorryActive)))
	}
	return Notification{}, false
}

func nodeNote(id uint32, d bus.EventData, state model.NodeState) (Notification, bool) {
	if d.Node == "" {
		return Notification{}, false
	}
	h := NameHash(d.Node)
	col := func(c uint32) agentx.OID { return Column(nodeTable, c).Append(h) }
	return Notification{TrapOID: NotificationsOID.Append(id), VarBinds: []agentx.VarBind{
		agentx.String(col(2), d.Node),
		agentx.Integer(col(3), NodeStateValue(state)),
		agentx.String(col(6), d.Reason),
	}}, true
}

// Sink takes notifications without blocking: the subagent and the
// standalone agent.
type Sink interface {
	Notify(Notification)
}

// Notifier turns the events an agent reports into notifications for its
// sinks. Event never blocks: the agent calls it while holding its own
// locks, so events go through a bounded queue to a goroutine that reads
// the view and builds the notifications; when the queue is full the
// event is dropped and counted.
type Notifier struct {
	view  func() model.View
	sinks []Sink
	log   *slog.Logger
	ch    chan bus.Event
	// pending counts events queued or being handed to the sinks.
	pending atomic.Int64

	mu      sync.Mutex
	dropped uint64
	sent    uint64
}

// NewNotifier returns a Notifier for sinks; view is read once per event.
func NewNotifier(view func() model.View, log *slog.Logger, sinks ...Sink) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{view: view, sinks: sinks, log: log, ch: make(chan bus.Event, 256)}
}

// Event queues e; it never blocks.
func (n *Notifier) Event(e bus.Event) {
	n.pending.Add(1)
	select {
	case n.ch <- e:
	default:
		n.pending.Add(-1)
		n.mu.Lock()
		n.dropped++
		n.mu.Unlock()
	}
}

// Pending is the number of events waiting to be turned into
// notifications.
func (n *Notifier) Pending() int { return int(n.pending.Load()) }

// Counts returns the notifications handed to the sinks and the events
// dropped because the queue was full.
func (n *Notifier) Counts() (sent, dropped uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent, n.dropped
}

// Run delivers queued events until done is closed.
func (n *Notifier) Run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case e := <-n.ch:
			n.deliver(e)
			n.pending.Add(-1)
		}
	}
}

func (n *Notifier) deliver(e bus.Event) {
	note, ok := FromEvent(e, n.view())
	if !ok {
		return
	}
	n.log.Debug("snmp notification", "event", e.Type, "trap", note.TrapOID.String())
	for _, s := range n.sinks {
		s.Notify(note)
	}
	n.mu.Lock()
	n.sent++
	n.mu.Unlock()
}

package agent

import (
	"strconv"
	"time"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/managers"
	"github.com/droverha/drover/model"
)

// newsWindow is how long an operator's change waits to be announced by a
// manager. It matches the event stream's duplicate window: a change is
// announced under an id made from its key and revision, so if two managers
// both announce it (one stepping down as the other is elected), the stream
// keeps one.
const newsWindow = 2 * time.Minute

// desiredNews is an operator's change to announce: every agent notes it as
// its watch delivers it, the manager announces it and forgets it, the
// others forget it after newsWindow.
type desiredNews struct {
	id      string // stable across agents: the key and its revision
	typ     string
	subject string
	data    bus.EventData
	at      time.Time
}

func newsID(key string, rev uint64) string {
	return "desired." + key + "." + strconv.FormatUint(rev, 10)
}

// noteLocked queues one change and forgets the ones no manager took up in
// time.
func (a *Agent) noteLocked(n desiredNews) {
	kept := a.news[:0]
	for _, o := range a.news {
		if n.at.Sub(o.at) < newsWindow {
			kept = append(kept, o)
		}
	}
	a.news = append(kept, n)
}

func (a *Agent) noteDrainLocked(key string, rev uint64, node string, drained bool, by string, now time.Time) {
	typ, reason := bus.EventNodeUndrained, "undrained by an operator"
	if drained {
		typ, reason = bus.EventNodeDrained, "drained by an operator: gets no VIP groups"
	}
	if by != "" {
		reason += " (" + by + ")"
	}
	a.noteLocked(desiredNews{id: newsID(key, rev), typ: typ, subject: node, at: now,
		data: bus.EventData{Node: node, By: by, Reason: reason}})
}

// applyAdminLocked takes in a real server's administrative state (key
// rs.<service>.<address>); a deleted key means enabled.
func (a *Agent) applyAdminLocked(key string, rev uint64, del bool, d bus.Desired, news bool, now time.Time) {
	service, addr, err := bus.ParseRealServerKey(key)
	if a.drops.Count(err) {
		return
	}
	ref := managers.RealServerRef{Service: service, Address: addr}
	was := a.lb.admin[ref]
	state := d.Admin
	if del || state == "" {
		state = model.AdminEnabled
	}
	if state == model.AdminEnabled {
		delete(a.lb.admin, ref)
	} else {
		a.lb.admin[ref] = state
	}
	if was == a.lb.admin[ref] {
		return
	}
	wake(a.planWake)
	if !news {
		return
	}
	reason := state + " by an operator"
	if d.By != "" {
		reason += " (" + d.By + ")"
	}
	a.noteLocked(desiredNews{id: newsID(key, rev), typ: bus.EventRealServerAdmin, subject: service + "/" + addr.String(), at: now,
		data: bus.EventData{Service: service, RealServer: addr.String(), State: state, By: d.By, Reason: reason}})
}

// announceDesired is the manager's part: announce the operators' changes
// noted since the last round, once each.
func (a *Agent) announceDesired(epoch uint64) {
	now := time.Now()
	a.mu.Lock()
	news := a.news
	a.news = nil
	a.mu.Unlock()
	for _, n := range news {
		if now.Sub(n.at) >= newsWindow {
			continue // the stream could no longer tell it from a repeat
		}
		n.data.Epoch = epoch
		a.log.Info("operator request taken in", "event", n.typ, "subject", n.subject, "by", n.data.By, "epoch", epoch)
		a.emitID(n.id, n.typ, n.subject, epoch, n.data)
	}
}

// emitID is emit with a given event id, for events more than one agent
// may publish.
func (a *Agent) emitID(id, typ, subject string, epoch uint64, d bus.EventData) {
	e, err := bus.NewEvent(a.cfg.Cluster, a.cfg.Node, typ, subject, epoch, d, time.Now())
	if err != nil {
		a.log.Error("building event", "event", typ, "err", err)
		return
	}
	e.ID = id
	a.pub.Publish(e)
	if a.cfg.OnEvent != nil {
		a.cfg.OnEvent(e)
	}
}

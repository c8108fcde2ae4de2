package agent

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/managers"
)

// manage runs one round of the manager's work at epoch: bring the published
// membership records in line with this node's view, announcing each change
// once. Decisions are written by compare-and-swap and carry the epoch; a
// record written by a newer epoch is never overwritten.
func (a *Agent) manage(ctx context.Context, kv jetstream.KeyValue, epoch uint64) {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.LeaseTTL/2)
	defer cancel()
	a.mu.Lock()
	records := a.records
	a.mu.Unlock()
	if records == nil {
		var err error
		if records, err = loadRecords(cctx, kv, &a.drops); err != nil {
			a.log.Debug("reading membership records", "err", err)
			return
		}
	}
	now := time.Now()
	a.mu.Lock()
	view := a.members.Nodes(now)
	a.records = records
	a.mu.Unlock()
	for _, u := range managers.PlanRecords(view, records, epoch, now) {
		b, err := bus.Encode(u.Record)
		if err != nil {
			continue
		}
		var rev uint64
		if u.Revision == 0 {
			rev, err = kv.Create(cctx, u.Node, b)
		} else {
			rev, err = kv.Update(cctx, u.Node, b, u.Revision)
		}
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				// Someone else wrote it (the node itself on leave, or a newer
				// manager): reread and decide again next round.
				if e, gerr := kv.Get(cctx, u.Node); gerr == nil {
					if r, derr := bus.DecodeNodeRecord(e.Value()); derr == nil {
						a.setRecord(u.Node, managers.StoredRecord{Record: r, Revision: e.Revision()})
						continue
					}
				}
				a.mu.Lock()
				a.records = nil
				a.mu.Unlock()
				return
			}
			a.log.Debug("writing membership record", "peer", u.Node, "err", err)
			return
		}
		a.setRecord(u.Node, managers.StoredRecord{Record: u.Record, Revision: rev})
		a.log.Info("membership decision", "peer", u.Node, "event", u.Event, "state", u.Record.State.String(), "epoch", epoch)
		a.emit(u.Event, u.Node, epoch, bus.EventData{
			Node: u.Node, State: u.Record.State.String(), Previous: u.Previous.String(),
			Reason: u.Record.Reason, Epoch: epoch, Boot: u.Record.Boot,
		})
	}
}

func (a *Agent) setRecord(node string, r managers.StoredRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.records != nil {
		a.records[node] = r
	}
}

func loadRecords(ctx context.Context, kv jetstream.KeyValue, drops *bus.Drops) (map[string]managers.StoredRecord, error) {
	out := map[string]managers.StoredRecord{}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r, err := bus.DecodeNodeRecord(e.Value())
		if drops.Count(err) {
			// Overwritten by the next decision about that node.
			out[k] = managers.StoredRecord{Revision: e.Revision()}
			continue
		}
		out[k] = managers.StoredRecord{Record: r, Revision: e.Revision()}
	}
	return out, nil
}

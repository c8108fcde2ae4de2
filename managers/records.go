package managers

import (
	"time"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

// StoredRecord is a membership record as read from the nodes bucket, with
// the revision to compare-and-swap against (0: no record yet).
type StoredRecord struct {
	Record   bus.NodeRecord
	Revision uint64
}

// RecordUpdate is one membership record the manager should write, and the
// event to publish once the write succeeds.
type RecordUpdate struct {
	Node     string
	Record   bus.NodeRecord
	Revision uint64 // expected current revision; 0 means create
	Event    string // bus.EventNode...
	Previous model.NodeState
}

// PlanRecords compares the manager's view with the published records and
// returns the writes that bring the records in line, in node order. It is
// level-triggered: whatever happened while there was no manager, or while
// records could not be written, shows up as a difference here.
func PlanRecords(view []model.Node, stored map[string]StoredRecord, epoch uint64, now time.Time) []RecordUpdate {
	var out []RecordUpdate
	for _, n := range view {
		if n.State == model.NodeUnknown {
			continue
		}
		st, have := stored[n.Name]
		if have && st.Record.Epoch > epoch {
			// Written by a newer manager: we are stale and must not touch it.
			continue
		}
		prev := model.NodeUnknown
		if have {
			prev = st.Record.State
		}
		restarted := have && n.State == model.NodeAlive && prev == model.NodeAlive &&
			st.Record.Boot != "" && n.Boot != "" && st.Record.Boot != n.Boot
		if prev == n.State && !restarted {
			continue
		}
		ev := eventFor(prev, n.State)
		if restarted {
			ev = bus.EventNodeJoined
		}
		if ev == "" {
			continue
		}
		out = append(out, RecordUpdate{
			Node:     n.Name,
			Previous: prev,
			Revision: st.Revision,
			Event:    ev,
			Record: bus.NodeRecord{
				V: bus.Version, Node: n.Name, State: n.State, Since: now.UTC(),
				Boot: n.Boot, Epoch: epoch, Reason: n.Reason,
			},
		})
	}
	return out
}

// eventFor names the event announcing a record's change from prev to next,
// or "" when the change is not worth announcing on its own.
func eventFor(prev, next model.NodeState) string {
	switch next {
	case model.NodeAlive:
		if prev == model.NodeSuspect {
			return bus.EventNodeAlive
		}
		return bus.EventNodeJoined
	case model.NodeSuspect:
		if prev == model.NodeAlive {
			return bus.EventNodeSuspect
		}
		return "" // a suspect that was not alive in the records stays as it was
	case model.NodeDead:
		if prev == model.NodeLeft {
			return "" // it left first; its silence is expected
		}
		return bus.EventNodeDead
	case model.NodeLeft:
		return bus.EventNodeLeft
	}
	return ""
}

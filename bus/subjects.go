package bus

import "strings"

// Subjects names every subject, KV bucket and stream of one cluster. All
// names derive from the cluster name, so several clusters can share one
// external NATS deployment.
type Subjects struct {
	Cluster string
}

func (s Subjects) prefix() string { return "drover." + s.Cluster + "." }

// Heartbeat is where node publishes its heartbeats (core NATS).
func (s Subjects) Heartbeat(node string) string { return s.prefix() + "hb." + node }

// Heartbeats matches every node's heartbeats.
func (s Subjects) Heartbeats() string { return s.prefix() + "hb.*" }

// Leave is where node announces a graceful leave (core NATS).
func (s Subjects) Leave(node string) string { return s.prefix() + "leave." + node }

// Leaves matches every node's leave announcements.
func (s Subjects) Leaves() string { return s.prefix() + "leave.*" }

// Status is a request subject answered by every agent in queue group
// StatusQueue; NATS prefers the subscriber on the requester's own server,
// so with the embedded bus the local agent answers.
func (s Subjects) Status() string { return s.prefix() + "status" }

// StatusOf is a request subject answered only by node.
func (s Subjects) StatusOf(node string) string { return s.prefix() + "status." + node }

// StatusQueue is the queue group for Status.
const StatusQueue = "drover-status"

// Event is the subject of one event type, for example "node.joined".
func (s Subjects) Event(typ string) string { return s.prefix() + "events." + typ }

// Events matches every event of the cluster.
func (s Subjects) Events() string { return s.prefix() + "events.>" }

// EventType returns the event type encoded in an event subject, or "".
func (s Subjects) EventType(subject string) string {
	p := s.prefix() + "events."
	if !strings.HasPrefix(subject, p) {
		return ""
	}
	return subject[len(p):]
}

// EventStream is the JetStream stream that keeps the events.
func (s Subjects) EventStream() string { return "DROVER_" + strings.ToUpper(s.Cluster) + "_EVENTS" }

// ElectionBucket is the KV bucket that holds the manager lease.
func (s Subjects) ElectionBucket() string { return "drover_" + s.Cluster + "_election" }

// NodesBucket is the KV bucket that records each node's membership state as
// last published by a manager.
func (s Subjects) NodesBucket() string { return "drover_" + s.Cluster + "_nodes" }

// VIPAssignments carries the manager's VIP placement (core NATS).
func (s Subjects) VIPAssignments() string { return s.prefix() + "vip.assignments" }

// VIPsBucket keeps the latest assignment of every VIP group.
func (s Subjects) VIPsBucket() string { return "drover_" + s.Cluster + "_vips" }

// DesiredBucket keeps operators' standing requests: drains and moves.
func (s Subjects) DesiredBucket() string { return "drover_" + s.Cluster + "_desired" }

// LeaseKey is the key of the manager lease in ElectionBucket.
const LeaseKey = "manager"

package bus

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/droverha/drover/model"
)

// Version is the schema version of every message type defined here. A
// reader accepts only the versions it knows; new optional fields may be
// added without a version change, anything else needs a new version.
const Version = 1

// Heartbeat is published by every agent every heartbeat interval on
// Subjects.Heartbeat (core NATS, never JetStream).
type Heartbeat struct {
	V    int    `json:"v"`
	Node string `json:"node"`
	// Boot identifies the agent process; it changes on every start, so a
	// restart is told apart from a node that never went away.
	Boot string    `json:"boot"`
	Seq  uint64    `json:"seq"`
	Sent time.Time `json:"sent"`
	// IntervalMS is the sender's heartbeat interval.
	IntervalMS int64 `json:"interval_ms"`
	// Quorum is whether the sender sees a majority of the voters.
	Quorum bool `json:"quorum"`
	// Manager and Epoch are set while the sender holds the manager lease.
	Manager bool   `json:"manager,omitempty"`
	Epoch   uint64 `json:"epoch,omitempty"`
	Version string `json:"version,omitempty"` // software version
	// Held lists the VIP groups whose addresses the sender has up.
	Held []string `json:"held,omitempty"`
	// Yielded lists groups the sender still carries but no longer answers
	// ARP for, during a graceful handover.
	Yielded []string `json:"yielded,omitempty"`
	// UDP maps each peer the sender hears direct UDP heartbeats from to the
	// age of the latest, in milliseconds.
	UDP       map[string]int64 `json:"udp,omitempty"`
	Candidate bool             `json:"candidate,omitempty"` // the sender may own VIP groups
}

// Leave is published once by an agent that is shutting down on purpose.
type Leave struct {
	V      int       `json:"v"`
	Node   string    `json:"node"`
	Boot   string    `json:"boot"`
	Sent   time.Time `json:"sent"`
	Reason string    `json:"reason,omitempty"`
	// Held and GraceMS: a node stopping for a restart keeps the VIP groups
	// in Held for GraceMS; the manager leaves them where they are until
	// then, and a restarted agent that reports them held keeps them.
	Held    []string `json:"held,omitempty"`
	GraceMS int64    `json:"grace_ms,omitempty"`
}

// LeaseValue is the value of the manager lease in ElectionBucket.
type LeaseValue struct {
	V      int    `json:"v"`
	Holder string `json:"holder"`
	Boot   string `json:"boot"`
	// Epoch is the revision at which Holder created the lease. It is zero
	// in the creating write itself (whose revision is the epoch) and set in
	// every renewal.
	Epoch    uint64    `json:"epoch,omitempty"`
	Acquired time.Time `json:"acquired"`
	Renewed  time.Time `json:"renewed"`
}

// NodeRecord is a node's membership state as last published by a manager,
// kept in NodesBucket under the node's name. Whoever changes a record (by
// revision compare-and-swap) publishes the matching event, so a state
// change is announced once even across manager changes.
type NodeRecord struct {
	V     int             `json:"v"`
	Node  string          `json:"node"`
	State model.NodeState `json:"state"`
	Since time.Time       `json:"since"`
	Boot  string          `json:"boot,omitempty"`
	// Epoch is the epoch of the manager that wrote the record; zero when the
	// node wrote its own record on a graceful leave.
	Epoch  uint64 `json:"epoch,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// StatusRequest asks an agent for its view of the cluster.
type StatusRequest struct {
	V int `json:"v"`
}

// checkVersion reads only the "v" field, so a message of a newer version
// is reported as such even when the rest no longer parses.
func checkVersion(b []byte) error {
	var env struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.V == nil {
		return fmt.Errorf("%w: no version field \"v\"", ErrMalformed)
	}
	if *env.V != Version {
		return fmt.Errorf("%w: v=%d, this agent speaks v=%d", ErrUnknownVersion, *env.V, Version)
	}
	return nil
}

func decodeInto(b []byte, v any) error {
	if err := checkVersion(b); err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

func missing(field string) error { return fmt.Errorf("%w: missing %q", ErrMalformed, field) }

func checkName(field, s string) error {
	if s == "" {
		return missing(field)
	}
	if !model.ValidName(s) {
		return fmt.Errorf("%w: invalid %s %q", ErrMalformed, field, s)
	}
	return nil
}

// DecodeHeartbeat parses and checks a heartbeat.
func DecodeHeartbeat(b []byte) (Heartbeat, error) {
	var h Heartbeat
	if err := decodeInto(b, &h); err != nil {
		return Heartbeat{}, err
	}
	if err := checkName("node", h.Node); err != nil {
		return Heartbeat{}, err
	}
	if h.Boot == "" {
		return Heartbeat{}, missing("boot")
	}
	if h.IntervalMS <= 0 {
		return Heartbeat{}, fmt.Errorf("%w: interval_ms must be positive", ErrMalformed)
	}
	if h.Manager && h.Epoch == 0 {
		return Heartbeat{}, fmt.Errorf("%w: manager heartbeat without epoch", ErrMalformed)
	}
	return h, nil
}

// DecodeLeave parses and checks a leave announcement.
func DecodeLeave(b []byte) (Leave, error) {
	var l Leave
	if err := decodeInto(b, &l); err != nil {
		return Leave{}, err
	}
	if err := checkName("node", l.Node); err != nil {
		return Leave{}, err
	}
	if l.Boot == "" {
		return Leave{}, missing("boot")
	}
	return l, nil
}

// DecodeLeaseValue parses and checks the manager lease.
func DecodeLeaseValue(b []byte) (LeaseValue, error) {
	var l LeaseValue
	if err := decodeInto(b, &l); err != nil {
		return LeaseValue{}, err
	}
	if err := checkName("holder", l.Holder); err != nil {
		return LeaseValue{}, err
	}
	if l.Boot == "" {
		return LeaseValue{}, missing("boot")
	}
	return l, nil
}

// DecodeNodeRecord parses and checks a membership record.
func DecodeNodeRecord(b []byte) (NodeRecord, error) {
	var r NodeRecord
	if err := decodeInto(b, &r); err != nil {
		return NodeRecord{}, err
	}
	if err := checkName("node", r.Node); err != nil {
		return NodeRecord{}, err
	}
	if r.State == model.NodeUnknown {
		return NodeRecord{}, missing("state")
	}
	return r, nil
}

// DecodeStatusRequest parses a status request. An empty body is accepted as
// a v1 request, so `nats req drover.C.status ""` works by hand.
func DecodeStatusRequest(b []byte) (StatusRequest, error) {
	if len(b) == 0 {
		return StatusRequest{V: Version}, nil
	}
	var r StatusRequest
	if err := decodeInto(b, &r); err != nil {
		return StatusRequest{}, err
	}
	return r, nil
}

// DecodeView parses a status reply.
func DecodeView(b []byte) (model.View, error) {
	var v model.View
	if err := checkVersion(b); err != nil {
		return model.View{}, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return model.View{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkName("cluster", v.Cluster); err != nil {
		return model.View{}, err
	}
	if err := checkName("observer", v.Observer); err != nil {
		return model.View{}, err
	}
	return v, nil
}

// Encode renders a message.
func Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", v, err)
	}
	return b, nil
}

// UDPHeartbeat is the direct heartbeat between directors, one UDP datagram
// per interval to each peer, so that bus trouble is not taken for death.
type UDPHeartbeat struct {
	V       int    `json:"v"`
	Cluster string `json:"c"`
	Node    string `json:"n"`
	Boot    string `json:"b"`
	Seq     uint64 `json:"s"`
}

// DecodeUDPHeartbeat parses and checks a UDP heartbeat.
func DecodeUDPHeartbeat(b []byte) (UDPHeartbeat, error) {
	var h UDPHeartbeat
	if err := decodeInto(b, &h); err != nil {
		return UDPHeartbeat{}, err
	}
	if err := checkName("c", h.Cluster); err != nil {
		return UDPHeartbeat{}, err
	}
	if err := checkName("n", h.Node); err != nil {
		return UDPHeartbeat{}, err
	}
	if h.Boot == "" {
		return UDPHeartbeat{}, missing("b")
	}
	return h, nil
}

// Assignment is the manager's decision about one VIP group.
type Assignment struct {
	Group string `json:"group"`
	// Owner is the node that should hold the group; "" means nobody.
	Owner string `json:"owner"`
	// From, during a graceful move, is the previous owner: it stops
	// answering ARP, the new owner brings the addresses up and announces
	// them, then From drops them.
	From   string    `json:"from,omitempty"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// Pinned is set by an operator's move: preemption leaves it alone.
	Pinned bool `json:"pinned,omitempty"`
}

// Assignments is the manager's full VIP placement, published on core NATS
// every heartbeat interval (Subjects.VIPAssignments) and kept in the vips
// bucket. Agents ignore it when Epoch is older than the newest they know.
type Assignments struct {
	V      int          `json:"v"`
	Epoch  uint64       `json:"epoch"`
	Seq    uint64       `json:"seq"`
	Sent   time.Time    `json:"sent"`
	Groups []Assignment `json:"groups"`
}

// DecodeAssignments parses and checks an assignment snapshot.
func DecodeAssignments(b []byte) (Assignments, error) {
	var a Assignments
	if err := decodeInto(b, &a); err != nil {
		return Assignments{}, err
	}
	if a.Epoch == 0 {
		return Assignments{}, missing("epoch")
	}
	for _, g := range a.Groups {
		if err := checkName("group", g.Group); err != nil {
			return Assignments{}, err
		}
		if g.Owner != "" && !model.ValidName(g.Owner) {
			return Assignments{}, fmt.Errorf("%w: invalid owner %q", ErrMalformed, g.Owner)
		}
		if g.From != "" && !model.ValidName(g.From) {
			return Assignments{}, fmt.Errorf("%w: invalid from %q", ErrMalformed, g.From)
		}
	}
	return a, nil
}

// VIPRecord is one group's assignment as kept in the vips bucket.
type VIPRecord struct {
	V     int    `json:"v"`
	Epoch uint64 `json:"epoch"`
	Assignment
}

// DecodeVIPRecord parses a vips bucket value.
func DecodeVIPRecord(b []byte) (VIPRecord, error) {
	var r VIPRecord
	if err := decodeInto(b, &r); err != nil {
		return VIPRecord{}, err
	}
	if err := checkName("group", r.Group); err != nil {
		return VIPRecord{}, err
	}
	return r, nil
}

// Desired is an operator's standing request, kept in the desired bucket:
// key "drain.<node>" (Drained), "move.<group>" (Node) or
// "rs.<service>.<address>" (Admin; RealServerKey).
type Desired struct {
	V       int    `json:"v"`
	Drained bool   `json:"drained,omitempty"`
	Node    string `json:"node,omitempty"`
	// Admin is a real server's administrative state (model.AdminEnabled,
	// AdminQuiesced, AdminDisabled); "" reads as enabled. Optional within
	// v1: agents that predate it ignore rs.* keys.
	Admin string    `json:"admin,omitempty"`
	At    time.Time `json:"at"`
	By    string    `json:"by,omitempty"`
}

// DecodeDesired parses a desired bucket value.
func DecodeDesired(b []byte) (Desired, error) {
	var d Desired
	if err := decodeInto(b, &d); err != nil {
		return Desired{}, err
	}
	if d.Node != "" && !model.ValidName(d.Node) {
		return Desired{}, fmt.Errorf("%w: invalid node %q", ErrMalformed, d.Node)
	}
	if d.Admin != "" && !model.ValidAdmin(d.Admin) {
		return Desired{}, fmt.Errorf("%w: invalid admin state %q", ErrMalformed, d.Admin)
	}
	return d, nil
}

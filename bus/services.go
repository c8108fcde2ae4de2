package bus

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/droverha/drover/model"
)

// Load balancing travels on core NATS only, never JetStream: a director
// must be able to take a dead real server out of its table while the
// JetStream Raft groups are still electing leaders after a node's death.
// Every message is level-triggered: senders repeat their whole state
// periodically (in chunks), so a lost message is repaired by the next one.

// Health is where node publishes its check results (core NATS).
func (s Subjects) Health(node string) string { return s.prefix() + "health." + node }

// Healths matches every node's check results.
func (s Subjects) Healths() string { return s.prefix() + "health.*" }

// ServiceTable carries the manager's IPVS table decisions (core NATS).
func (s Subjects) ServiceTable() string { return s.prefix() + "ipvs.table" }

// IPVSStats is where a director publishes its IPVS counters (core NATS).
func (s Subjects) IPVSStats(node string) string { return s.prefix() + "ipvs.stats." + node }

// IPVSStatsAll matches every director's counters.
func (s Subjects) IPVSStatsAll() string { return s.prefix() + "ipvs.stats.*" }

// HealthReport is a set of check results from one node: the changes as
// they happen and, every second, all of them. A result not repeated within
// a few seconds is stale and no longer counts.
type HealthReport struct {
	V       int            `json:"v"`
	Node    string         `json:"node"`
	Sent    time.Time      `json:"sent"`
	Results []HealthResult `json:"results"`
}

// HealthResult is the state of one probe: model.Check.ID names it.
type HealthResult struct {
	ID      string    `json:"id"`
	Healthy bool      `json:"healthy"`
	Known   bool      `json:"known"` // false until rise or fall probes agree
	Reason  string    `json:"reason"`
	Since   time.Time `json:"since"`
}

// DecodeHealthReport parses and checks a health report.
func DecodeHealthReport(b []byte) (HealthReport, error) {
	var r HealthReport
	if err := decodeInto(b, &r); err != nil {
		return HealthReport{}, err
	}
	if err := checkName("node", r.Node); err != nil {
		return HealthReport{}, err
	}
	for _, x := range r.Results {
		if x.ID == "" {
			return HealthReport{}, missing("results[].id")
		}
	}
	return r, nil
}

// ServiceTable is a chunk of the manager's IPVS table. Each entry is a
// whole virtual service; directors keep, per service, the entry of the
// highest (Epoch, Seq) they have seen and drop older epochs. Removed names
// services the manager no longer has.
type ServiceTable struct {
	V        int            `json:"v"`
	Epoch    uint64         `json:"epoch"`
	Seq      uint64         `json:"seq"`
	Sent     time.Time      `json:"sent"`
	Services []TableService `json:"services,omitempty"`
	Removed  []string       `json:"removed,omitempty"`
	// All, in the last chunk of a full table, names every service the
	// manager has: a director forgets the others.
	All   []string `json:"all,omitempty"`
	Final bool     `json:"final,omitempty"`
}

// TableService is one virtual service as directors must program it.
type TableService struct {
	Name           string      `json:"name"`
	Protocol       string      `json:"protocol,omitempty"` // tcp, udp, sctp; "" with fwmark
	Address        string      `json:"address,omitempty"`  // VIP:port
	FWMark         uint32      `json:"fwmark,omitempty"`
	Family         string      `json:"family,omitempty"` // inet, inet6
	Scheduler      string      `json:"scheduler"`
	SchedulerFlags []string    `json:"scheduler_flags,omitempty"`
	PersistTimeout uint32      `json:"persist_timeout,omitempty"` // seconds; 0: no persistence
	PersistNetmask int         `json:"persist_netmask,omitempty"`
	Dests          []TableDest `json:"dests"`
	// The decision's state, for views on every node.
	Quorum        bool      `json:"quorum"`
	HealthyWeight int       `json:"healthy_weight"`
	SorryActive   bool      `json:"sorry_active,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	Since         time.Time `json:"since"`
}

// TableDest is one real server (or the sorry server) of a TableService.
// Directors program the ones that are not Out.
type TableDest struct {
	Address    string `json:"address"` // IP:port
	Forward    string `json:"forward"` // nat, dr, tunnel
	Weight     int    `json:"weight"`  // to program
	Out        bool   `json:"out,omitempty"`
	Configured int    `json:"configured"`
	Healthy    bool   `json:"healthy"`
	Known      bool   `json:"known"`
	Sorry      bool   `json:"sorry,omitempty"`
	// Admin is the operator's state the decision applied:
	// model.AdminQuiesced or AdminDisabled; "" when enabled.
	Admin  string    `json:"admin,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// DecodeServiceTable parses and checks a table chunk.
func DecodeServiceTable(b []byte) (ServiceTable, error) {
	var t ServiceTable
	if err := decodeInto(b, &t); err != nil {
		return ServiceTable{}, err
	}
	if t.Epoch == 0 {
		return ServiceTable{}, missing("epoch")
	}
	for _, s := range t.Services {
		if err := s.check(); err != nil {
			return ServiceTable{}, err
		}
	}
	for _, n := range append(t.Removed, t.All...) {
		if err := checkName("removed", n); err != nil {
			return ServiceTable{}, err
		}
	}
	return t, nil
}

func (s TableService) check() error {
	if err := checkName("service", s.Name); err != nil {
		return err
	}
	if (s.Address == "") == (s.FWMark == 0) {
		return fmt.Errorf("%w: service %s: exactly one of address and fwmark", ErrMalformed, s.Name)
	}
	if s.Address != "" {
		if _, err := netip.ParseAddrPort(s.Address); err != nil {
			return fmt.Errorf("%w: service %s: %v", ErrMalformed, s.Name, err)
		}
		switch s.Protocol {
		case "tcp", "udp", "sctp":
		default:
			return fmt.Errorf("%w: service %s: protocol %q", ErrMalformed, s.Name, s.Protocol)
		}
	}
	if s.Scheduler == "" {
		return fmt.Errorf("%w: service %s: no scheduler", ErrMalformed, s.Name)
	}
	for _, d := range s.Dests {
		if _, err := netip.ParseAddrPort(d.Address); err != nil {
			return fmt.Errorf("%w: service %s: dest: %v", ErrMalformed, s.Name, err)
		}
		switch d.Forward {
		case model.ForwardNAT, model.ForwardDR, model.ForwardTunnel:
		default:
			return fmt.Errorf("%w: service %s: dest %s: forward %q", ErrMalformed, s.Name, d.Address, d.Forward)
		}
		if d.Weight < 0 {
			return fmt.Errorf("%w: service %s: dest %s: weight %d", ErrMalformed, s.Name, d.Address, d.Weight)
		}
		if d.Admin != "" && d.Admin != model.AdminQuiesced && d.Admin != model.AdminDisabled {
			return fmt.Errorf("%w: service %s: dest %s: admin %q", ErrMalformed, s.Name, d.Address, d.Admin)
		}
	}
	return nil
}

// IPVSStats is a chunk of one director's IPVS counters, sent every few
// seconds.
type IPVSStats struct {
	V        int                 `json:"v"`
	Node     string              `json:"node"`
	Sent     time.Time           `json:"sent"`
	Services []IPVSServiceCounts `json:"services"`
}

// IPVSServiceCounts are one service's counters on the sending director.
type IPVSServiceCounts struct {
	Name  string              `json:"name"`
	Stats model.Counters      `json:"stats"`
	Dests []model.DestCounter `json:"dests,omitempty"`
}

// DecodeIPVSStats parses and checks a counters chunk.
func DecodeIPVSStats(b []byte) (IPVSStats, error) {
	var s IPVSStats
	if err := decodeInto(b, &s); err != nil {
		return IPVSStats{}, err
	}
	if err := checkName("node", s.Node); err != nil {
		return IPVSStats{}, err
	}
	for _, x := range s.Services {
		if err := checkName("service", x.Name); err != nil {
			return IPVSStats{}, err
		}
	}
	return s, nil
}

package managers

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/droverha/drover/model"
)

// Probe is one node's latest result for one probe ID.
type Probe struct {
	Node    string
	Self    bool // the real server's own agent
	Healthy bool
	Known   bool
	Reason  string
	Since   time.Time
}

// ServicesInput is what PlanServices decides from.
type ServicesInput struct {
	Specs []model.VirtualService
	// Probes maps a probe ID (model.Check.ID) to the fresh results of the
	// nodes that run it; stale results are left out by the caller.
	Probes map[string][]Probe
	// Prev is the previous decision, by service name; nil at start.
	Prev map[string]ServiceState
	// Admin holds operators' administrative states of real servers
	// (model.AdminQuiesced, AdminDisabled); absent or AdminEnabled for the
	// default.
	Admin map[RealServerRef]string
	Now   time.Time
}

// RealServerRef names one real server of one virtual service.
type RealServerRef struct {
	Service string
	Address netip.AddrPort
}

// ServiceState is the manager's decision for one virtual service.
type ServiceState struct {
	Name          string
	Quorum        bool // the healthy weight reaches the quorum
	HealthyWeight int
	Needed        int // quorum: least healthy weight
	RegainAt      int // quorum is regained at this healthy weight
	SorryActive   bool
	Reason        string
	Since         time.Time // of Quorum's current value
	Real          []RealState
}

// RealState is the decision for one real server (or the sorry server).
type RealState struct {
	Address netip.AddrPort
	Forward string
	Weight  int // configured
	Applied int // in the table; -1 for out of it
	Healthy bool
	Known   bool
	Sorry   bool
	// Admin is the operator's state, model.AdminQuiesced or AdminDisabled;
	// "" when enabled.
	Admin  string
	Reason string
	Since  time.Time
	Probes []Probe
	// Evidence is when some probe last decided about it; a decision is
	// kept through unknown probes for KeepFor after that, no longer.
	Evidence time.Time
}

// KeepFor bounds how long a real server keeps its last decision while no
// probe knows about it (probes restarting, probers silent). Past it the
// server is "not probed" again: a decision with no evidence behind it is
// not shown as health.
const KeepFor = time.Minute

// ServiceTransition is a change worth an event.
type ServiceTransition struct {
	Type       string // "realserver.up", "realserver.down", "service.quorum.lost", "service.quorum.regained"
	Service    string
	RealServer string // for realserver.*
	Reason     string
}

// PlanServices turns the configured services and the nodes' check results
// into the IPVS table every director programs, with a reason for every
// real server's state.
//
// A real server is healthy when at least half of the nodes that have
// decided about it say so (a tie keeps it in: two directors that disagree
// are more likely looking at a flaky path than at a dead server), and its
// own agent, if it reports, does not say it is down. Until some probe has
// decided it is not healthy, so a new server earns its place with rise
// probes. A failed server gets weight 0 (on_failure: quiescent) or leaves
// the table (remove).
//
// An operator's administrative state overrides health: a quiesced real
// server stays in the table at weight 0 (no new connections; existing ones
// finish) whatever its health, a disabled one leaves the table. Neither
// counts toward the healthy weight; their health is still judged and
// shown.
//
// Quorum: a service is short when the healthy weight falls below Quorum
// (at least 1) and whole again at Quorum+Hysteresis. While short, the sorry
// server (if any) takes all the traffic, as keepalived's sorry_server
// does; without one the remaining healthy servers keep serving.
func PlanServices(in ServicesInput) (map[string]ServiceState, []ServiceTransition) {
	out := make(map[string]ServiceState, len(in.Specs))
	var ts []ServiceTransition
	for _, spec := range in.Specs {
		prev, hadPrev := in.Prev[spec.Name]
		prevReal := map[netip.AddrPort]RealState{}
		for _, r := range prev.Real {
			if !r.Sorry {
				prevReal[r.Address] = r
			}
		}
		st := ServiceState{Name: spec.Name, Needed: max(spec.Quorum, 1)}
		st.RegainAt = st.Needed + spec.Hysteresis
		administered := 0
		for _, rs := range spec.RealServers {
			c := spec.EffectiveCheck(rs)
			r := judge(rs, c, in.Probes[c.ID(c.Target(rs.Address))])
			if a := in.Admin[RealServerRef{Service: spec.Name, Address: rs.Address}]; a == model.AdminQuiesced || a == model.AdminDisabled {
				r.Admin = a
				administered++
			}
			p, seen := prevReal[rs.Address]
			if r.Known {
				r.Evidence = in.Now
			} else if seen && p.Known && in.Now.Sub(p.Evidence) < KeepFor {
				// Its probes restarted (a changed check, a prober's
				// restart) or went quiet: keep the last decision rather
				// than take a healthy server out for a second.
				r.Healthy, r.Known, r.Evidence = p.Healthy, true, p.Evidence
				r.Reason = strings.TrimSuffix(healthReason(p), keptSuffix) + keptSuffix
			}
			r.Since = in.Now
			if seen && p.Healthy == r.Healthy && p.Known == r.Known && p.Admin == r.Admin {
				r.Since = p.Since
			}
			if r.Admin != "" {
				r.Reason = adminPrefix(r.Admin) + r.Reason
			} else if r.Healthy {
				st.HealthyWeight += rs.Weight
			}
			switch {
			case r.Healthy && (!seen || !p.Healthy):
				ts = append(ts, ServiceTransition{Type: "realserver.up", Service: spec.Name, RealServer: rs.Address.String(), Reason: r.Reason})
			case !r.Healthy && r.Known && (!seen || p.Healthy || !p.Known):
				ts = append(ts, ServiceTransition{Type: "realserver.down", Service: spec.Name, RealServer: rs.Address.String(), Reason: r.Reason})
			}
			st.Real = append(st.Real, r)
		}

		// Quorum with hysteresis; a new service starts short, without an
		// event, so an agent's start does not announce a loss.
		was := hadPrev && prev.Quorum
		if was {
			st.Quorum = st.HealthyWeight >= st.Needed
		} else {
			st.Quorum = st.HealthyWeight >= st.RegainAt || (!hadPrev && st.HealthyWeight >= st.Needed)
		}
		st.Since = in.Now
		if hadPrev && was == st.Quorum {
			st.Since = prev.Since
		}
		switch {
		case st.Quorum:
			st.Reason = fmt.Sprintf("healthy weight %d, quorum %d", st.HealthyWeight, st.Needed)
		case was || !hadPrev:
			st.Reason = fmt.Sprintf("healthy weight %d below quorum %d", st.HealthyWeight, st.Needed)
		default:
			st.Reason = fmt.Sprintf("healthy weight %d below %d needed to regain quorum", st.HealthyWeight, st.RegainAt)
		}
		if administered > 0 {
			st.Reason += fmt.Sprintf(" (%d of %d real servers quiesced or disabled by an operator)", administered, len(spec.RealServers))
		}
		if hadPrev && was != st.Quorum {
			typ := "service.quorum.lost"
			if st.Quorum {
				typ = "service.quorum.regained"
			}
			ts = append(ts, ServiceTransition{Type: typ, Service: spec.Name, Reason: st.Reason})
		}

		// Weights.
		st.SorryActive = !st.Quorum && spec.Sorry != nil
		for i := range st.Real {
			r := &st.Real[i]
			switch {
			case r.Admin == model.AdminDisabled:
				r.Applied = -1
			case r.Admin == model.AdminQuiesced:
				// In the table even while the sorry server serves: weight 0
				// takes no new connections, and the ones it has finish.
				r.Applied = 0
			case st.SorryActive:
				r.Applied = -1
			case r.Healthy:
				r.Applied = r.Weight
			case spec.OnFailure == model.OnFailureQuiescent:
				r.Applied = 0
			default:
				r.Applied = -1
			}
		}
		if spec.Sorry != nil {
			s := RealState{Address: spec.Sorry.Address, Forward: spec.Sorry.Forward, Weight: max(spec.Sorry.Weight, 1),
				Sorry: true, Healthy: true, Known: true, Applied: -1, Reason: "sorry server: standing by", Since: st.Since}
			if st.SorryActive {
				s.Applied = s.Weight
				s.Reason = "sorry server: " + st.Reason
			}
			st.Real = append(st.Real, s)
		}
		out[spec.Name] = st
	}
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Service < ts[j].Service })
	return out, ts
}

const keptSuffix = " (kept: no current probe result)"

// adminPrefix starts the reason of a real server an operator quiesced or
// disabled; its health reason follows.
func adminPrefix(admin string) string { return admin + " by an operator; " }

// healthReason is r's reason without its administrative prefix.
func healthReason(r RealState) string {
	if r.Admin == "" {
		return r.Reason
	}
	return strings.TrimPrefix(r.Reason, adminPrefix(r.Admin))
}

// judge combines the probes of one real server.
func judge(rs model.RealServer, c model.Check, probes []Probe) RealState {
	probes = append([]Probe(nil), probes...)
	sort.Slice(probes, func(i, j int) bool { return probes[i].Node < probes[j].Node })
	r := RealState{Address: rs.Address, Forward: rs.Forward, Weight: rs.Weight, Probes: probes}
	if c.Kind == "none" {
		r.Healthy, r.Known, r.Reason = true, true, "not checked (check kind none)"
		return r
	}
	var up, known []string
	var downReason string
	var self *Probe
	for i, p := range probes {
		if p.Self {
			self = &probes[i]
			continue
		}
		if !p.Known {
			continue
		}
		known = append(known, p.Node)
		if p.Healthy {
			up = append(up, p.Node)
		} else if downReason == "" {
			downReason = p.Node + ": " + p.Reason
		}
	}
	switch {
	case self != nil && self.Known && !self.Healthy:
		r.Known, r.Reason = true, "its own agent "+self.Node+" reports it down: "+self.Reason
	case len(known) == 0 && self != nil && self.Known:
		r.Healthy, r.Known, r.Reason = true, true, "its own agent "+self.Node+" reports it up: "+self.Reason
	case len(known) == 0:
		r.Reason = "not probed yet"
		if len(probes) > 0 {
			r.Reason = "waiting for rise/fall: " + probes[0].Reason
		}
	case 2*len(up) >= len(known):
		r.Healthy, r.Known = true, true
		r.Reason = "up by " + strings.Join(up, ", ")
		if len(up) < len(known) {
			r.Reason += "; down by " + downReason
		}
	default:
		r.Known, r.Reason = true, downReason
	}
	return r
}

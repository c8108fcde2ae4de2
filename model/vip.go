package model

import (
	"net/netip"
	"sort"
	"time"
)

// VIPGroup is a set of virtual addresses that move together between
// directors, like a keepalived VRRP instance in a sync group.
type VIPGroup struct {
	Name         string
	Interface    string
	Addresses    []netip.Prefix
	Candidates   []Candidate
	Preempt      bool
	PreemptDelay time.Duration
	VirtualMAC   string // "" without MAC takeover
}

// Candidate is a node that may own a group, with its priority (higher wins).
type Candidate struct {
	Node     string
	Priority int
}

// Priority returns node's priority for g, 0 if it is not a candidate.
func (g VIPGroup) Priority(node string) int {
	for _, c := range g.Candidates {
		if c.Node == node {
			return c.Priority
		}
	}
	return 0
}

// Ranked returns the candidates best first: priority, then name.
func (g VIPGroup) Ranked() []Candidate {
	out := append([]Candidate(nil), g.Candidates...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority > out[j].Priority
		}
		return out[i].Node < out[j].Node
	})
	return out
}

// VIPGroupView is a group as the cluster view shows it.
type VIPGroupView struct {
	Name       string    `json:"name"`
	Addresses  []string  `json:"addresses"`
	VirtualMAC string    `json:"virtual_mac,omitempty"`
	Owner      string    `json:"owner"`          // the manager's decision; "" for none
	From       string    `json:"from,omitempty"` // the previous owner during a graceful handover
	Reason     string    `json:"reason"`
	Since      time.Time `json:"since"`
	Epoch      uint64    `json:"epoch"`
	HeldBy     []string  `json:"held_by"` // nodes that report holding it; more than one only during a handover
	// Candidates are the nodes that may own the group, best first (as
	// Ranked orders them). Absent in views from agents before it was added.
	Candidates []CandidateView `json:"candidates,omitempty"`
}

// CandidateView is one candidate of a VIP group in the cluster view.
type CandidateView struct {
	Node     string `json:"node"`
	Priority int    `json:"priority"`
}

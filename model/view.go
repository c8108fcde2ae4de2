package model

import (
	"sort"
	"time"
)

// ViewVersion is the schema version of View as rendered by
// `drover status -o json` and carried in status replies on the bus.
const ViewVersion = 1

// View is one node's picture of the cluster at one instant. It is built
// by the agent and rendered by every face; it is never mutated after it is
// handed out.
type View struct {
	V        int       `json:"v"`
	Cluster  string    `json:"cluster"`
	Observer string    `json:"observer"` // the node whose view this is
	Time     time.Time `json:"time"`
	// Manager is the elected manager as this node knows it; empty when there
	// is none or this node has no quorum.
	Manager string `json:"manager"`
	// Epoch is the manager's fencing token: the revision of its election
	// lease. Zero when there is no manager.
	Epoch  uint64 `json:"epoch"`
	Quorum Quorum `json:"quorum"`
	Nodes  []Node `json:"nodes"`
	// VIPGroups are the configured VIP groups with their owners.
	VIPGroups []VIPGroupView `json:"vip_groups"`
	// Services are the configured virtual services: weights, health and
	// counters. Absent when none are configured.
	Services []ServiceView `json:"services,omitempty"`
	// Dropped counts bus messages this node received and dropped, by reason.
	Dropped Dropped `json:"dropped"`
}

// Quorum says whether the observer sees a majority of the voters.
type Quorum struct {
	Have    bool `json:"have"`
	Present int  `json:"present"` // voters alive or suspect, the observer included
	Voters  int  `json:"voters"`
	Needed  int  `json:"needed"`
}

// Dropped counts messages that were received and thrown away.
type Dropped struct {
	Malformed      uint64 `json:"malformed"`       // not valid JSON or missing required fields
	UnknownVersion uint64 `json:"unknown_version"` // a schema version this agent does not speak
	StaleEpoch     uint64 `json:"stale_epoch"`     // a manager decision older than the newest epoch seen
	Late           uint64 `json:"late"`            // a manager decision delivered long after it was sent
}

// Total is the sum of all dropped messages.
func (d Dropped) Total() uint64 { return d.Malformed + d.UnknownVersion + d.StaleEpoch + d.Late }

// Node is one member as the observer sees it.
type Node struct {
	Name  string    `json:"name"`
	State NodeState `json:"state"`
	// Since is when the node entered State (observer's clock).
	Since time.Time `json:"since"`
	// LastHeartbeat is when the observer last heard from the node; zero if never.
	LastHeartbeat time.Time `json:"last_heartbeat"`
	// HeartbeatAgeMS is Time - LastHeartbeat in milliseconds, -1 if never.
	HeartbeatAgeMS int64  `json:"heartbeat_age_ms"`
	Manager        bool   `json:"manager"`
	Quorum         bool   `json:"quorum"` // whether the node itself reports quorum
	Boot           string `json:"boot"`   // incarnation: changes on every agent start
	Version        string `json:"version"`
	Reason         string `json:"reason,omitempty"`
	// Held lists the VIP groups the node says it holds.
	Held []string `json:"held,omitempty"`
	// UDP is whether some node hears this one's direct UDP heartbeats.
	UDP bool `json:"udp"`
	// BusIsolated: silent on the bus but heard over UDP: not dead.
	BusIsolated bool `json:"bus_isolated,omitempty"`
	// Drained nodes are given no VIP groups.
	Drained bool `json:"drained,omitempty"`
}

// SortNodes orders nodes by name so renderings are stable.
func SortNodes(ns []Node) {
	sort.Slice(ns, func(i, j int) bool { return ns[i].Name < ns[j].Name })
}

package model

import (
	"fmt"
	"regexp"
)

// NodeState is what the membership layer believes about a node.
type NodeState int

// Node states. The zero value is NodeUnknown so that a missing field never
// reads as alive.
const (
	NodeUnknown NodeState = iota
	NodeAlive             // heartbeats arrive within suspect_after
	NodeSuspect           // no heartbeat for suspect_after, not yet dead_after
	NodeDead              // no heartbeat for dead_after
	NodeLeft              // the node said goodbye (graceful leave)
)

var nodeStateNames = [...]string{"unknown", "alive", "suspect", "dead", "left"}

func (s NodeState) String() string {
	if s < 0 || int(s) >= len(nodeStateNames) {
		return fmt.Sprintf("NodeState(%d)", int(s))
	}
	return nodeStateNames[s]
}

// ParseNodeState is the inverse of String.
func ParseNodeState(s string) (NodeState, error) {
	for i, n := range nodeStateNames {
		if n == s {
			return NodeState(i), nil
		}
	}
	return NodeUnknown, fmt.Errorf("unknown node state %q", s)
}

// Present reports whether a node in this state still counts towards the
// quorum: a suspect node has not been declared dead yet.
func (s NodeState) Present() bool { return s == NodeAlive || s == NodeSuspect }

// MarshalText renders the state by name, so JSON shows "alive", not 1.
func (s NodeState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a state name.
func (s *NodeState) UnmarshalText(b []byte) error {
	v, err := ParseNodeState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// namePattern is what node and cluster names must look like: they become
// NATS subject tokens, KV keys and stream names.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// ValidName reports whether s may be used as a node or cluster name.
func ValidName(s string) bool { return namePattern.MatchString(s) }

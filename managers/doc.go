// Package managers holds the cluster's decision logic: the membership and
// quorum view every agent keeps, and what the elected manager decides from
// it. Everything here is a deterministic state machine stepped with an
// explicit time; nothing here makes a syscall or touches the bus.
package managers

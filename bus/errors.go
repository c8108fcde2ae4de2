package bus

import "errors"

var (
	// ErrMalformed marks a message that is not valid JSON or lacks a
	// required field.
	ErrMalformed = errors.New("malformed message")
	// ErrUnknownVersion marks a message whose schema version this agent
	// does not speak.
	ErrUnknownVersion = errors.New("unknown message version")
	// ErrStaleEpoch marks a manager decision from an epoch older than the
	// newest one seen.
	ErrStaleEpoch = errors.New("stale epoch")
	// ErrLate marks a manager decision delivered long after it was sent
	// (held up in a TCP connection across a partition, say).
	ErrLate = errors.New("late message")
	// ErrLeaseHeld is returned by Lease.Acquire when another node holds the
	// manager lease.
	ErrLeaseHeld = errors.New("manager lease held by another node")
	// ErrLeaseLost is returned by Lease.Renew when the lease changed under
	// us: it expired, or someone else took it.
	ErrLeaseLost = errors.New("manager lease lost")
	// ErrLeaseMissing is returned by Lease.Renew when the compare-and-swap
	// failed and the lease then reads as absent. Either it expired, or the
	// answers came from a replica that has not caught up, or from a stream
	// leader deposed by a partition that does not know it yet (seen right
	// after a heal). A manager keeps renewing until its deadline; a node
	// resuming a kept grant campaigns afresh.
	ErrLeaseMissing = errors.New("manager lease not found")
)

// Package agent is the per-node daemon, the local resource manager. It runs
// (or connects to) the bus, sends heartbeats, keeps the membership view,
// takes part in the manager election, acts as manager when elected,
// publishes events and answers status requests.
package agent

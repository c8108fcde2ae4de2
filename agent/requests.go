package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

// errNotRunning: the agent has no bus connection yet (or any more).
var errNotRunning = errors.New("agent is not connected to the bus")

// DrainNode records, through the agent's own bus connection, that node
// gets no VIP groups (drain true) or may own them again, as `drover node
// drain|undrain` does. It returns once the request is stored; the manager
// carries it out. The signature is the CIM face's Invoker (cim.Invoker),
// so the agent serves as one without this package importing cim; the
// request's By is this agent ("agent:<node>"), who asked is in the CIM
// audit log.
func (a *Agent) DrainNode(ctx context.Context, node string, drain bool) error {
	if !model.ValidName(node) {
		return fmt.Errorf("invalid node name %q", node)
	}
	return a.putDesired(ctx, "drain."+node, bus.Desired{Drained: drain})
}

// MoveVIPGroup records that group should move to node, as `drover vip
// move` does.
func (a *Agent) MoveVIPGroup(ctx context.Context, group, node string) error {
	if !model.ValidName(group) || !model.ValidName(node) {
		return fmt.Errorf("invalid group %q or node %q", group, node)
	}
	return a.putDesired(ctx, "move."+group, bus.Desired{Node: node})
}

// SetRealServerAdmin records the administrative state of the real server
// address (IP:port, as ipvsadm prints it) of service: model.AdminEnabled,
// AdminQuiesced (weight 0) or AdminDisabled (out of the table), as
// `drover realserver enable|quiesce|disable` does. The manager applies it.
func (a *Agent) SetRealServerAdmin(ctx context.Context, service, address, state string) error {
	if !model.ValidAdmin(state) {
		return fmt.Errorf("invalid administrative state %q (enabled, quiesced or disabled)", state)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("real server address %q: %w", address, err)
	}
	key, err := bus.RealServerKey(service, ap)
	if err != nil {
		return err
	}
	return a.putDesired(ctx, key, bus.Desired{Admin: state})
}

func (a *Agent) putDesired(ctx context.Context, key string, d bus.Desired) error {
	select {
	case <-a.ready:
	default:
		return errNotRunning
	}
	d.By = "agent:" + a.cfg.Node
	if err := bus.PutDesired(ctx, a.js, a.cfg.Cluster, key, d); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

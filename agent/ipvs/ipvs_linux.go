//go:build linux

package ipvs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// batchSize is how many requests go to the kernel in one sendmsg. The
// kernel answers each failing one with an error message queued on our
// socket; 128 of them fit in the default receive buffer even without
// NETLINK_CAP_ACK, so none is dropped. Larger batches gain little: a batch
// of 128 costs 2 system calls where one request at a time costs 256.
const batchSize = 128

const defaultTimeout = 30 * time.Second

// client talks to the kernel's IPVS over one generic netlink socket.
type client struct {
	mu      sync.Mutex // guards everything below; one request at a time, so replies are read in order
	dial    func() (*netlink.Conn, error)
	nl      *netlink.Conn // nil after a transport error, dialled again on the next request
	g       *genetlink.Conn
	family  uint16 // the IPVS family's id
	timeout time.Duration
	e       enc               // request scratch
	offs    []int             // scratch: where each request of a batch starts in e.b
	msgs    []netlink.Message // scratch
	errs    []error           // scratch: per-request kernel errors of a batch
}

var (
	_ Client  = (*client)(nil)
	_ Applier = (*client)(nil)
)

// New opens a client on the IPVS table of opts.NetNS (or the caller's own
// namespace). Errors wrap ErrNotSupported when the kernel has no IPVS.
func New(opts Options) (Client, error) {
	dial := func() (*netlink.Conn, error) {
		cfg := &netlink.Config{}
		if opts.NetNS != "" {
			f, err := os.Open(opts.NetNS)
			if err != nil {
				return nil, fmt.Errorf("opening network namespace %s: %w", opts.NetNS, err)
			}
			defer f.Close()
			cfg.NetNS = int(f.Fd())
		}
		nl, err := netlink.Dial(unix.NETLINK_GENERIC, cfg)
		if err != nil {
			return nil, fmt.Errorf("generic netlink socket: %w", err)
		}
		// Best effort, older kernels lack them: the kernel's reason in
		// errors, and errors that do not echo the whole request.
		_ = nl.SetOption(netlink.ExtendedAcknowledge, true)
		_ = nl.SetOption(netlink.CapAcknowledge, true)
		return nl, nil
	}
	c := &client{dial: dial, timeout: opts.Timeout}
	if err := c.connectLocked(); err != nil {
		return nil, err
	}
	return c, nil
}

// newClient wraps an open netlink connection (tests hand in one over a
// fake socket); it is not dialled again after a transport error.
func newClient(nl *netlink.Conn, timeout time.Duration) (*client, error) {
	c := &client{nl: nl, timeout: timeout, dial: func() (*netlink.Conn, error) {
		return nil, errors.New("connection lost")
	}}
	if err := c.resolveLocked(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *client) connectLocked() error {
	if c.nl != nil {
		return nil
	}
	nl, err := c.dial()
	if err != nil {
		return fmt.Errorf("ipvs: %w", err)
	}
	c.nl = nl
	if err := c.resolveLocked(); err != nil {
		nl.Close()
		c.nl = nil
		return err
	}
	return nil
}

func (c *client) resolveLocked() error {
	c.g = genetlink.NewConn(c.nl)
	f, err := c.g.GetFamily(familyName)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no generic netlink family %q (is the ip_vs module loaded?): %w", familyName, ErrNotSupported)
	}
	if err != nil {
		return fmt.Errorf("ipvs: looking up generic netlink family %q: %w", familyName, err)
	}
	c.family = f.ID
	return nil
}

// resetLocked drops a connection whose replies can no longer be matched
// to requests (a timeout, a lost message).
func (c *client) resetLocked() {
	if c.nl != nil {
		c.nl.Close()
		c.nl, c.g = nil, nil
	}
}

func (c *client) deadlineLocked() {
	t := c.timeout
	if t <= 0 {
		t = defaultTimeout
	}
	// Not every socket has deadlines (tests' fakes); then there is no wait.
	_ = c.nl.SetReadDeadline(time.Now().Add(t))
}

// kernelError reports whether err is the kernel's answer to a request
// (an errno in a netlink error message) rather than a transport failure.
func kernelError(err error) (*netlink.OpError, bool) {
	var oe *netlink.OpError
	return oe, errors.As(err, &oe) && oe.Sequence != 0
}

// dumpLocked runs a dump request and returns the attributes of each reply.
func (c *client) dumpLocked(cmd uint8, key *ServiceKey) ([]genetlink.Message, error) {
	if err := c.connectLocked(); err != nil {
		return nil, err
	}
	c.e.b = c.e.b[:0]
	if key != nil {
		at := c.e.nest(attrCmdService)
		c.e.serviceKey(*key)
		c.e.end(at)
	}
	req := genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: genlVersion},
		Data:   c.e.b,
	}
	c.deadlineLocked()
	msgs, err := c.g.Execute(req, c.family, netlink.Request|netlink.Dump)
	if err != nil {
		if _, ok := kernelError(err); !ok {
			c.resetLocked()
		}
		return nil, err
	}
	return msgs, nil
}

// Services dumps the table's services.
func (c *client) Services() ([]ServiceInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msgs, err := c.dumpLocked(cmdGetService, nil)
	if err != nil {
		return nil, fmt.Errorf("ipvs: listing services: %w", err)
	}
	out := make([]ServiceInfo, 0, len(msgs))
	for _, m := range msgs {
		b, err := findAttr(m.Data, attrCmdService)
		if err != nil {
			return nil, fmt.Errorf("ipvs: listing services: %w", err)
		}
		si, err := decodeService(b)
		if err != nil {
			return nil, fmt.Errorf("ipvs: listing services: %w", err)
		}
		out = append(out, si)
	}
	return out, nil
}

// Destinations dumps service k's destinations. The kernel answers a
// service that does not exist with none.
func (c *client) Destinations(k ServiceKey) ([]DestinationInfo, error) {
	k = k.Normalize()
	c.mu.Lock()
	defer c.mu.Unlock()
	msgs, err := c.dumpLocked(cmdGetDest, &k)
	if err != nil {
		return nil, fmt.Errorf("ipvs: listing destinations of %s: %w", k, err)
	}
	out := make([]DestinationInfo, 0, len(msgs))
	for _, m := range msgs {
		b, err := findAttr(m.Data, attrCmdDest)
		if err != nil {
			return nil, fmt.Errorf("ipvs: listing destinations of %s: %w", k, err)
		}
		di, err := decodeDest(b, k.Family)
		if err != nil {
			return nil, fmt.Errorf("ipvs: listing destinations of %s: %w", k, err)
		}
		out = append(out, di)
	}
	return out, nil
}

func (c *client) one(op Op) error {
	_, err := c.Apply([]Op{op})
	var ae *ApplyError
	if errors.As(err, &ae) && len(ae.Failed) == 1 {
		return ae.Failed[0]
	}
	return err
}

// CreateService adds s.
func (c *client) CreateService(s Service) error {
	return c.one(Op{Kind: OpCreateService, Service: s})
}

// UpdateService changes the scheduler, flags, timeout and netmask of s.
func (c *client) UpdateService(s Service) error {
	return c.one(Op{Kind: OpUpdateService, Service: s})
}

// RemoveService removes service k and its destinations.
func (c *client) RemoveService(k ServiceKey) error {
	return c.one(Op{Kind: OpRemoveService, Service: Service{ServiceKey: k}})
}

// CreateDestination adds d to service k.
func (c *client) CreateDestination(k ServiceKey, d Destination) error {
	return c.one(Op{Kind: OpCreateDestination, Service: Service{ServiceKey: k}, Dest: d})
}

// UpdateDestination changes the forwarding, weight and thresholds of d.
func (c *client) UpdateDestination(k ServiceKey, d Destination) error {
	return c.one(Op{Kind: OpUpdateDestination, Service: Service{ServiceKey: k}, Dest: d})
}

// RemoveDestination removes destination d from service k.
func (c *client) RemoveDestination(k ServiceKey, d DestKey) error {
	return c.one(Op{Kind: OpRemoveDestination, Service: Service{ServiceKey: k}, Dest: Destination{DestKey: d}})
}

// Apply sends ops in batches of batchSize requests, each batch in one
// sendmsg with only its last request asking for an acknowledgement: the
// kernel handles a datagram's messages in order and answers every failure
// with an error carrying the failed request's sequence number, so the
// acknowledgement of the last one means all are done, and the errors read
// before it say which failed. IPVS commands never return -EINTR, the one
// result for which the kernel sends neither an error nor an ack.
func (c *client) Apply(ops []Op) ([]Op, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	applied := make([]Op, 0, len(ops))
	ae := &ApplyError{Attempted: len(ops)}
	for rest := ops; len(rest) > 0; {
		n := min(len(rest), batchSize)
		errs, err := c.batchLocked(rest[:n])
		if err != nil {
			ae.Attempted = len(ops) - len(rest)
			err = fmt.Errorf("ipvs: applying %d operations, %d done: %w", len(rest), len(applied), err)
			if len(ae.Failed) > 0 {
				err = errors.Join(ae, err)
			}
			return applied, err
		}
		for i, e := range errs {
			if e == nil {
				applied = append(applied, rest[i])
			} else {
				ae.Failed = append(ae.Failed, &OpError{Op: rest[i], Err: e})
			}
		}
		rest = rest[n:]
	}
	if len(ae.Failed) > 0 {
		return applied, ae
	}
	return applied, nil
}

// batchLocked sends ops (at most batchSize) and returns each one's error.
// A non-nil err means the outcome of the batch is unknown.
func (c *client) batchLocked(ops []Op) ([]error, error) {
	if err := c.connectLocked(); err != nil {
		return nil, err
	}
	c.e.b, c.offs, c.msgs = c.e.b[:0], c.offs[:0], c.msgs[:0]
	for _, op := range ops {
		c.offs = append(c.offs, len(c.e.b))
		c.e.request(op)
	}
	c.offs = append(c.offs, len(c.e.b))
	for i := range ops {
		flags := netlink.Request
		if i == len(ops)-1 {
			flags |= netlink.Acknowledge
		}
		c.msgs = append(c.msgs, netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(c.family), Flags: flags},
			Data:   c.e.b[c.offs[i]:c.offs[i+1]],
		})
	}
	sent, err := c.nl.SendMessages(c.msgs)
	if err != nil {
		c.resetLocked()
		return nil, err
	}
	first, last := sent[0].Header.Sequence, sent[len(sent)-1].Header.Sequence
	c.errs = slices.Grow(c.errs[:0], len(ops))[:len(ops)]
	clear(c.errs)
	c.deadlineLocked()
	for {
		replies, err := c.nl.Receive()
		if oe, ok := kernelError(err); ok {
			if i := oe.Sequence - first; int(i) < len(ops) {
				c.errs[i] = explain(ops[i], oe)
			}
			if oe.Sequence == last {
				return c.errs, nil
			}
			continue
		}
		if err != nil {
			// A timeout, or ENOBUFS: the kernel dropped messages for us.
			c.resetLocked()
			return nil, err
		}
		for _, r := range replies {
			if r.Header.Type == netlink.Error && r.Header.Sequence == last {
				return c.errs, nil
			}
		}
	}
}

// explain turns the kernel's errno for op into an error saying what did
// or did not exist.
func explain(op Op, oe *netlink.OpError) error {
	errno := oe.Err
	svc := op.Kind == OpCreateService || op.Kind == OpUpdateService || op.Kind == OpRemoveService
	switch {
	case errors.Is(errno, unix.ESRCH):
		return &existError{msg: "no such service", target: fs.ErrNotExist, errno: errno}
	case errors.Is(errno, unix.EEXIST) && svc:
		return &existError{msg: "service exists", target: fs.ErrExist, errno: errno}
	case errors.Is(errno, unix.EEXIST):
		return &existError{msg: "destination exists", target: fs.ErrExist, errno: errno}
	case errors.Is(errno, unix.ENOENT) && svc:
		// The kernel's answer when request_module("ip_vs_NAME") fails.
		return fmt.Errorf("%w %q (no module ip_vs_%s): %v", ErrUnknownScheduler, op.Service.Normalize().Scheduler, op.Service.Normalize().Scheduler, errno)
	case errors.Is(errno, unix.ENOENT):
		return &existError{msg: "no such destination", target: fs.ErrNotExist, errno: errno}
	}
	if oe.Message != "" {
		return fmt.Errorf("%w: %s", errno, oe.Message)
	}
	return errno
}

// flush removes every service of the table (IPVS_CMD_FLUSH). Tests and
// benchmarks start from an empty table with it.
func (c *client) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connectLocked(); err != nil {
		return err
	}
	c.deadlineLocked()
	_, err := c.g.Execute(genetlink.Message{Header: genetlink.Header{Command: cmdFlush, Version: genlVersion}},
		c.family, netlink.Request|netlink.Acknowledge)
	if err != nil {
		if _, ok := kernelError(err); !ok {
			c.resetLocked()
		}
		return fmt.Errorf("ipvs: flushing: %w", err)
	}
	return nil
}

// Close closes the netlink socket.
func (c *client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nl == nil {
		return nil
	}
	err := c.nl.Close()
	c.nl, c.g = nil, nil
	c.dial = func() (*netlink.Conn, error) { return nil, errors.New("client closed") }
	return err
}

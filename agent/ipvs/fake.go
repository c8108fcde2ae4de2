package ipvs

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
)

// Fake is an in-memory IPVS table that records what it was asked; tests
// read both back. It answers as the kernel does: the same existence
// errors, ErrUnknownScheduler for a scheduler the kernel lacks, normalised
// values, services listed in creation order. It is not an Applier, so
// Reconcile drives it one call at a time.
type Fake struct {
	mu       sync.Mutex // guards everything below
	next     uint64     // creation counter, for listing order
	svcs     map[ServiceKey]*fakeService
	calls    []Call
	failures map[OpKind][]error
	closed   bool
}

type fakeService struct {
	created uint64
	info    ServiceInfo
	dests   []DestinationInfo
}

// Call is one recorded call: a read (Services, Destinations, with the
// service in Op.Service) or a write (its Op).
type Call struct {
	Method string // "Services", "Destinations", "CreateService", ... "Close"
	Op     Op
	Err    error // what the call returned
}

var _ Client = (*Fake)(nil)

// NewFake returns an empty table.
func NewFake() *Fake { return &Fake{svcs: map[ServiceKey]*fakeService{}} }

// FailNext makes the next operation of kind k fail with err, once;
// several queue up.
func (f *Fake) FailNext(k OpKind, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures == nil {
		f.failures = map[OpKind][]error{}
	}
	f.failures[k] = append(f.failures[k], err)
}

// Calls returns the calls made so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Ops returns the writes that succeeded, in order.
func (f *Fake) Ops() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ops []Op
	for _, c := range f.calls {
		if c.Op.Kind != 0 && c.Err == nil {
			ops = append(ops, c.Op)
		}
	}
	return ops
}

// ResetCalls forgets the calls made so far.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// Closed reports whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// Table returns the table, sorted as ipvsadm lists it.
func (f *Fake) Table() Table {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := make(Table, 0, len(f.svcs))
	for _, s := range f.svcs {
		vs := VirtualService{Service: s.info.Service}
		for _, d := range s.dests {
			vs.Destinations = append(vs.Destinations, d.Destination)
		}
		t = append(t, vs)
	}
	sortTable(t)
	return t
}

// SetServiceStats sets the counters Services reports for service k.
func (f *Fake) SetServiceStats(k ServiceKey, st Stats) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.svcs[k.Normalize()]
	if !ok {
		return fmt.Errorf("fake ipvs: %s: %w", k, errNoService)
	}
	s.info.Stats = st
	return nil
}

// SetDestinationCounters sets the connection counts and counters
// Destinations reports for destination di of service k (its other
// fields are ignored).
func (f *Fake) SetDestinationCounters(k ServiceKey, di DestinationInfo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.svcs[k.Normalize()]
	if !ok {
		return fmt.Errorf("fake ipvs: %s: %w", k, errNoService)
	}
	j := s.find(di.DestKey.normalize())
	if j < 0 {
		return fmt.Errorf("fake ipvs: %s %s: %w", k, di.DestKey, errNoDest)
	}
	d := &s.dests[j]
	d.ActiveConns, d.InactiveConns, d.PersistConns, d.Stats = di.ActiveConns, di.InactiveConns, di.PersistConns, di.Stats
	return nil
}

var (
	errNoService   = &existError{msg: "no such service", target: fs.ErrNotExist}
	errServiceUp   = &existError{msg: "service exists", target: fs.ErrExist}
	errNoDest      = &existError{msg: "no such destination", target: fs.ErrNotExist}
	errDestUp      = &existError{msg: "destination exists", target: fs.ErrExist}
	errFakeClosed  = errors.New("fake ipvs: closed")
	fakeSchedulers = schedulers[:len(schedulers)-1] // all but "none"
)

func (s *fakeService) find(k DestKey) int {
	return slices.IndexFunc(s.dests, func(d DestinationInfo) bool { return d.DestKey == k })
}

// writeLocked records a write and runs it unless a failure is queued.
func (f *Fake) writeLocked(method string, op Op, do func() error) error {
	var err error
	switch {
	case f.closed:
		err = errFakeClosed
	case len(f.failures[op.Kind]) > 0:
		err = f.failures[op.Kind][0]
		f.failures[op.Kind] = f.failures[op.Kind][1:]
	default:
		err = do()
	}
	if err != nil {
		err = &OpError{Op: op, Err: err}
	}
	f.calls = append(f.calls, Call{Method: method, Op: op, Err: err})
	return err
}

// Services lists the services in creation order.
func (f *Fake) Services() ([]ServiceInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errFakeClosed
	}
	f.calls = append(f.calls, Call{Method: "Services"})
	ss := make([]*fakeService, 0, len(f.svcs))
	for _, s := range f.svcs {
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b *fakeService) int { return int(a.created) - int(b.created) })
	out := make([]ServiceInfo, len(ss))
	for i, s := range ss {
		out[i] = s.info
	}
	return out, nil
}

// Destinations lists service k's destinations in creation order; none if
// there is no such service, as the kernel answers.
func (f *Fake) Destinations(k ServiceKey) ([]DestinationInfo, error) {
	k = k.Normalize()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errFakeClosed
	}
	f.calls = append(f.calls, Call{Method: "Destinations", Op: Op{Service: Service{ServiceKey: k}}})
	if s, ok := f.svcs[k]; ok {
		return slices.Clone(s.dests), nil
	}
	return nil, nil
}

// CreateService adds s.
func (f *Fake) CreateService(s Service) error {
	s = s.Normalize()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeLocked("CreateService", Op{Kind: OpCreateService, Service: s}, func() error {
		if err := checkService(s); err != nil {
			return err
		}
		if _, ok := f.svcs[s.ServiceKey]; ok {
			return errServiceUp
		}
		f.next++
		f.svcs[s.ServiceKey] = &fakeService{created: f.next, info: ServiceInfo{Service: s}}
		return nil
	})
}

// UpdateService changes service s.
func (f *Fake) UpdateService(s Service) error {
	s = s.Normalize()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeLocked("UpdateService", Op{Kind: OpUpdateService, Service: s}, func() error {
		if err := checkService(s); err != nil {
			return err
		}
		svc, ok := f.svcs[s.ServiceKey]
		if !ok {
			return errNoService
		}
		svc.info.Service = s
		return nil
	})
}

func checkService(s Service) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if !slices.Contains(fakeSchedulers, s.Scheduler) {
		return fmt.Errorf("%w %q", ErrUnknownScheduler, s.Scheduler)
	}
	return nil
}

// RemoveService removes service k and its destinations.
func (f *Fake) RemoveService(k ServiceKey) error {
	k = k.Normalize()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeLocked("RemoveService", Op{Kind: OpRemoveService, Service: Service{ServiceKey: k}}, func() error {
		if _, ok := f.svcs[k]; !ok {
			return errNoService
		}
		delete(f.svcs, k)
		return nil
	})
}

// CreateDestination adds d to service k.
func (f *Fake) CreateDestination(k ServiceKey, d Destination) error {
	k, d = k.Normalize(), d.Normalize()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeLocked("CreateDestination", Op{Kind: OpCreateDestination, Service: Service{ServiceKey: k}, Dest: d}, func() error {
		s, ok := f.svcs[k]
		if !ok {
			return errNoService
		}
		if err := d.Validate(k); err != nil {
			return err
		}
		if s.find(d.DestKey) >= 0 {
			return errDestUp
		}
		s.dests = append(s.dests, DestinationInfo{Destination: d})
		return nil
	})
}

// UpdateDestination changes destination d of service k.
func (f *Fake) UpdateDestination(k ServiceKey, d Destination) error {
	k, d = k.Normalize(), d.Normalize()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeLocked("UpdateDestination", Op{Kind: OpUpdateDestination, Service: Service{ServiceKey: k}, Dest: d}, func() error {
		s, ok := f.svcs[k]
		if !ok {
			return errNoService
		}
		if err := d.Validate(k); err != nil {
			return err
		}
		j := s.find(d.DestKey)
		if j < 0 {
			return errNoDest
		}
		s.dests[j].Destination = d
		return nil
	})
}

// RemoveDestination removes destination dk from service k.
func (f *Fake) RemoveDestination(k ServiceKey, dk DestKey) error {
	k, dk = k.Normalize(), dk.normalize()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeLocked("RemoveDestination", Op{Kind: OpRemoveDestination, Service: Service{ServiceKey: k}, Dest: Destination{DestKey: dk}}, func() error {
		s, ok := f.svcs[k]
		if !ok {
			return errNoService
		}
		j := s.find(dk)
		if j < 0 {
			return errNoDest
		}
		s.dests = slices.Delete(s.dests, j, j+1)
		return nil
	})
}

// Close marks the fake closed; later calls fail.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, Call{Method: "Close"})
	f.closed = true
	return nil
}

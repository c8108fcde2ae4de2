package ipvs

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Read reads c's whole table: one dump of the services and one of each
// service's destinations. It returns the table (sorted as ipvsadm lists
// it) and, for the cluster view, the counters of every service and
// destination.
func Read(c Client) (Table, []ServiceInfo, map[ServiceKey][]DestinationInfo, error) {
	t, svcs, dests, err := read(c)
	if err != nil {
		return nil, nil, nil, err
	}
	m := make(map[ServiceKey][]DestinationInfo, len(svcs))
	for i := range svcs {
		m[svcs[i].ServiceKey] = dests[i]
	}
	return t, svcs, m, nil
}

func read(c Client) (Table, []ServiceInfo, [][]DestinationInfo, error) {
	svcs, err := c.Services()
	if err != nil {
		return nil, nil, nil, err
	}
	t := make(Table, len(svcs))
	dests := make([][]DestinationInfo, len(svcs))
	for i := range svcs {
		ds, err := c.Destinations(svcs[i].ServiceKey)
		if err != nil {
			return nil, nil, nil, err
		}
		dests[i] = ds
		t[i] = VirtualService{Service: svcs[i].Service, Destinations: make([]Destination, len(ds))}
		for j := range ds {
			t[i].Destinations[j] = ds[j].Destination
		}
	}
	sortTable(t)
	return t, svcs, dests, nil
}

// Reconcile reads c's table, diffs it against desired (see Diff for owned
// and the order of operations) and applies the difference. It returns the
// operations that were applied; a second call with the same desired table
// applies none.
//
// Services of desired that fail validation are left as they are in the
// kernel (neither created, changed nor removed) and reported in err; the
// rest of the table is still reconciled.
func Reconcile(c Client, desired Table, owned func(ServiceKey) bool) (applied []Op, err error) {
	return NewReconciler(c, owned).Reconcile(desired)
}

// Reconciler reconciles a table repeatedly without reading the whole of
// it each time: it keeps the table it read and the changes it made since,
// so that after the first call a change costs a diff and its requests.
// It reads the kernel again after any failure and after Invalidate; call
// that periodically to notice (and undo) changes made behind its back.
// Its methods may be called concurrently.
type Reconciler struct {
	c     Client
	owned func(ServiceKey) bool

	mu sync.Mutex // guards ix and serialises reconciles
	ix *index     // the kernel's table as last read and changed; nil: read it
}

// NewReconciler returns a Reconciler of c's table; owned says which
// services it may remove (see Diff).
func NewReconciler(c Client, owned func(ServiceKey) bool) *Reconciler {
	return &Reconciler{c: c, owned: owned}
}

// Invalidate makes the next Reconcile read the kernel's table.
func (r *Reconciler) Invalidate() {
	r.mu.Lock()
	r.ix = nil
	r.mu.Unlock()
}

// Reconcile makes the table desired, as the function Reconcile does.
func (r *Reconciler) Reconcile(desired Table) ([]Op, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	desired, owned, invalid := validTable(desired, r.owned)
	if r.ix == nil {
		t, _, _, err := read(r.c)
		if err != nil {
			return nil, errors.Join(invalid, err)
		}
		r.ix = newIndex(t)
	}
	applied, err := apply(r.c, diff(r.ix, desired, owned))
	for _, op := range applied {
		r.ix.apply(op)
	}
	if err != nil {
		r.ix = nil // what failed may have half happened, or the table was not what we thought
	}
	return applied, errors.Join(invalid, err)
}

// validTable leaves the invalid services out of desired and out of what
// may be removed, and says why.
func validTable(desired Table, owned func(ServiceKey) bool) (Table, func(ServiceKey) bool, error) {
	var bad map[ServiceKey]bool
	var errs []error
	for i := range desired {
		if err := desired[i].Validate(); err != nil {
			if bad == nil {
				bad = make(map[ServiceKey]bool)
			}
			bad[desired[i].ServiceKey.Normalize()] = true
			errs = append(errs, err)
		}
	}
	if bad == nil {
		return desired, owned, nil
	}
	valid := make(Table, 0, len(desired))
	for i := range desired {
		if !bad[desired[i].ServiceKey.Normalize()] {
			valid = append(valid, desired[i])
		}
	}
	mayRemove := func(k ServiceKey) bool { return !bad[k] && (owned == nil || owned(k)) }
	return valid, mayRemove, fmt.Errorf("ipvs: %d invalid services left as they are: %w", len(bad), errors.Join(errs...))
}

// apply applies ops through c, as an Applier would.
func apply(c Client, ops []Op) ([]Op, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	if a, ok := c.(Applier); ok {
		return a.Apply(ops)
	}
	applied := make([]Op, 0, len(ops))
	ae := &ApplyError{Attempted: len(ops)}
	for _, op := range ops {
		var err error
		k := op.Service.ServiceKey
		switch op.Kind {
		case OpCreateService:
			err = c.CreateService(op.Service)
		case OpUpdateService:
			err = c.UpdateService(op.Service)
		case OpRemoveService:
			err = c.RemoveService(k)
		case OpCreateDestination:
			err = c.CreateDestination(k, op.Dest)
		case OpUpdateDestination:
			err = c.UpdateDestination(k, op.Dest)
		case OpRemoveDestination:
			err = c.RemoveDestination(k, op.Dest.DestKey)
		default:
			err = fmt.Errorf("unknown operation %d", op.Kind)
		}
		if err == nil {
			applied = append(applied, op)
			continue
		}
		var oe *OpError
		if !errors.As(err, &oe) {
			oe = &OpError{Op: op, Err: err}
		}
		ae.Failed = append(ae.Failed, oe)
	}
	if len(ae.Failed) > 0 {
		return applied, ae
	}
	return applied, nil
}

// apply records an applied op in the index.
func (ix *index) apply(op Op) {
	k := op.Service.ServiceKey.Normalize()
	if op.Kind == OpCreateService {
		ix.pos[k] = len(ix.table)
		ix.table = append(ix.table, VirtualService{Service: op.Service.Normalize()})
		return
	}
	i, ok := ix.pos[k]
	if !ok {
		return
	}
	vs := &ix.table[i]
	switch op.Kind {
	case OpUpdateService:
		vs.Service = op.Service.Normalize()
	case OpRemoveService:
		last := len(ix.table) - 1
		ix.table[i] = ix.table[last]
		ix.pos[ix.table[i].ServiceKey.Normalize()] = i
		ix.table[last] = VirtualService{}
		ix.table = ix.table[:last]
		delete(ix.pos, k)
	case OpCreateDestination:
		vs.Destinations = append(vs.Destinations, op.Dest.Normalize())
	case OpUpdateDestination, OpRemoveDestination:
		d := op.Dest.Normalize()
		j := slices.IndexFunc(vs.Destinations, func(x Destination) bool { return x.DestKey.normalize() == d.DestKey })
		switch {
		case j < 0:
		case op.Kind == OpUpdateDestination:
			vs.Destinations[j] = d
		default:
			vs.Destinations = slices.Delete(vs.Destinations, j, j+1)
		}
	}
}

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
		t[i].Service = svcs[i].Service.Normalize()
		if len(ds) > 0 {
			t[i].Destinations = make([]Destination, len(ds))
			for j := range ds {
				t[i].Destinations[j] = ds[j].Destination.Normalize()
			}
		}
	}
	sortTable(t)
	return t, svcs, dests, nil // t normalised, for newIndex
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
//
// It also keeps the desired table of its last successful call. When the
// next one names the same services in the same order (the usual case: a
// weight changed, a destination came or went), only the entries that
// differ from it are diffed and validated, and owned is not asked again:
// a change of owned's answers takes effect when the set of services
// changes or after Invalidate.
//
// Its methods may be called concurrently.
type Reconciler struct {
	c     Client
	owned func(ServiceKey) bool

	mu        sync.Mutex    // guards everything below and serialises reconciles
	ix        *index        // the kernel's table as last read and changed; nil: read it
	prev      Table         // the last desired table, applied in full; nil: none
	prevDests []Destination // backing array of prev's destinations
}

// NewReconciler returns a Reconciler of c's table; owned says which
// services it may remove (see Diff).
func NewReconciler(c Client, owned func(ServiceKey) bool) *Reconciler {
	return &Reconciler{c: c, owned: owned}
}

// Invalidate makes the next Reconcile read the kernel's table.
func (r *Reconciler) Invalidate() {
	r.mu.Lock()
	r.ix, r.prev = nil, nil
	r.mu.Unlock()
}

// Reconcile makes the table desired, as the function Reconcile does.
func (r *Reconciler) Reconcile(desired Table) ([]Op, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ix == nil {
		t, _, _, err := read(r.c)
		if err != nil {
			return nil, err
		}
		r.ix, r.prev = newIndex(t), nil
	}
	ops, changed, ok := r.incremental(desired)
	var invalid error
	clean := true
	if !ok {
		var valid Table
		var owned func(ServiceKey) bool
		valid, owned, invalid = validTable(desired, r.owned)
		ops, clean = diff(r.ix, valid, owned)
	}
	applied, err := apply(r.c, ops)
	for _, op := range applied {
		r.ix.apply(op)
	}
	switch {
	case err != nil:
		r.ix, r.prev = nil, nil // what failed may have half happened, or the table was not what we thought
	case invalid != nil || !clean:
		r.prev = nil // the kernel's table is not desired: diff it in full next time
	case ok:
		r.rememberChanged(desired, changed)
	default:
		r.remember(desired)
	}
	return applied, errors.Join(invalid, err)
}

// incremental diffs only the entries of desired that differ from the
// last desired table; ok is false when it cannot (no last table, or the
// services named are not the same, in the same order, all valid).
func (r *Reconciler) incremental(desired Table) (ops []Op, changed []int, ok bool) {
	if r.prev == nil || len(desired) != len(r.prev) {
		return nil, nil, false
	}
	for i := range desired {
		if sameEntry(&desired[i], &r.prev[i]) {
			continue
		}
		if desired[i].ServiceKey != r.prev[i].ServiceKey || desired[i].Validate() != nil {
			return nil, nil, false
		}
		j, found := r.ix.pos[desired[i].ServiceKey.Normalize()]
		if !found {
			return nil, nil, false
		}
		want, have := desired[i].Service.Normalize(), &r.ix.table[j]
		if have.Service != want {
			ops = append(ops, Op{Kind: OpUpdateService, Service: want})
		}
		ops = diffDests(ops, want, have.Destinations, desired[i].Destinations)
		changed = append(changed, i)
	}
	return ops, changed, true
}

func sameEntry(a, b *VirtualService) bool {
	return a.Service == b.Service && slices.Equal(a.Destinations, b.Destinations)
}

// remember copies desired into prev, reusing prev's memory.
func (r *Reconciler) remember(desired Table) {
	n := 0
	for i := range desired {
		n += len(desired[i].Destinations)
	}
	r.prevDests = slices.Grow(r.prevDests[:0], n)[:n]
	r.prev = slices.Grow(r.prev[:0], len(desired))[:len(desired)]
	off := 0
	for i := range desired {
		k := copy(r.prevDests[off:], desired[i].Destinations)
		r.prev[i] = VirtualService{Service: desired[i].Service, Destinations: r.prevDests[off : off+k : off+k]}
		off += k
	}
}

// rememberChanged updates prev where desired changed.
func (r *Reconciler) rememberChanged(desired Table, changed []int) {
	for _, i := range changed {
		if len(desired[i].Destinations) != len(r.prev[i].Destinations) {
			r.remember(desired)
			return
		}
		r.prev[i].Service = desired[i].Service
		copy(r.prev[i].Destinations, desired[i].Destinations)
	}
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
		switch j := indexDest(vs.Destinations, d.DestKey); {
		case j < 0:
		case op.Kind == OpUpdateDestination:
			vs.Destinations[j] = d
		default:
			vs.Destinations = slices.Delete(vs.Destinations, j, j+1)
		}
	}
}

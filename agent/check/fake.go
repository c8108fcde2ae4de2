package check

import (
	"slices"
	"sync"
)

// Fake is a Runner that probes nothing: it records every Set, and a test
// decides each target's health with Report. Targets a Set did not name are
// dropped, as a Checker drops them.
type Fake struct {
	onChange func(Status)

	mu       sync.Mutex // guards everything below
	sets     [][]Target
	statuses map[Key]Status
	order    []Key // first-Set order, for Statuses
	closed   bool
}

var _ Runner = (*Fake)(nil)

// NewFake returns a Fake that tells onChange (which may be nil) of every
// Report that changes a target's Healthy or Known.
func NewFake(onChange func(Status)) *Fake {
	return &Fake{onChange: onChange, statuses: map[Key]Status{}}
}

// Set records targets and makes them the set Statuses shows; new targets
// are unknown.
func (f *Fake) Set(targets []Target) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.sets = append(f.sets, slices.Clone(targets))
	want := map[Key]bool{}
	for _, t := range targets {
		k := t.Key()
		if want[k] {
			continue
		}
		want[k] = true
		if _, ok := f.statuses[k]; !ok {
			t.Check = WithDefaults(t.Check)
			f.statuses[k] = Status{Target: t}
			f.order = append(f.order, k)
		}
	}
	f.order = slices.DeleteFunc(f.order, func(k Key) bool {
		if !want[k] {
			delete(f.statuses, k)
			return true
		}
		return false
	})
}

// Sets returns every Set's targets, oldest first.
func (f *Fake) Sets() [][]Target {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sets)
}

// Report makes s the status of s.Target, if it is being probed, and calls
// OnChange when Healthy or Known changed. It reports whether the target
// is being probed.
func (f *Fake) Report(s Status) bool {
	f.mu.Lock()
	k := s.Key()
	old, ok := f.statuses[k]
	if !ok || f.closed {
		f.mu.Unlock()
		return false
	}
	s.Target = old.Target
	f.statuses[k] = s
	f.mu.Unlock()
	if (old.Healthy != s.Healthy || old.Known != s.Known) && f.onChange != nil {
		f.onChange(s)
	}
	return true
}

// Statuses returns the targets of the last Set, in the order they were
// first set.
func (f *Fake) Statuses() []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Status, 0, len(f.order))
	for _, k := range f.order {
		out = append(out, f.statuses[k])
	}
	return out
}

// Close stops recording.
func (f *Fake) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

package vip

import (
	"context"
	"sync"
	"time"
)

// Fake records what it was asked to do; tests read it back. It stands for
// one host: what it holds survives the agent that drives it.
type Fake struct {
	mu       sync.Mutex // guards everything below
	held     map[string]bool
	yielded  map[string]bool
	calls    []Call
	FailNext error // returned once by the next call
}

// Call is one recorded call.
type Call struct {
	At    time.Time
	Op    string // acquire, release, yield, unyield, announce
	Group string
}

var _ Client = (*Fake)(nil)

// NewFake returns a Fake holding nothing.
func NewFake() *Fake { return &Fake{held: map[string]bool{}, yielded: map[string]bool{}} }

func (f *Fake) record(op string, g Group) error {
	f.calls = append(f.calls, Call{At: time.Now(), Op: op, Group: g.Name})
	if err := f.FailNext; err != nil {
		f.FailNext = nil
		return err
	}
	return nil
}

// Acquire marks g held and answering.
func (f *Fake) Acquire(_ context.Context, g Group) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("acquire", g); err != nil {
		return false, err
	}
	changed := !f.held[g.Name] || f.yielded[g.Name]
	f.held[g.Name], f.yielded[g.Name] = true, false
	return changed, nil
}

// Release marks g not held.
func (f *Fake) Release(_ context.Context, g Group) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("release", g); err != nil {
		return err
	}
	delete(f.held, g.Name)
	delete(f.yielded, g.Name)
	return nil
}

// Held reports whether g's addresses are up (answering or yielded).
func (f *Fake) Held(g Group) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[g.Name] && !f.yielded[g.Name], nil
}

// Yield marks g held but not answering ARP.
func (f *Fake) Yield(_ context.Context, g Group) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("yield", g); err != nil {
		return err
	}
	if f.held[g.Name] {
		f.yielded[g.Name] = true
	}
	return nil
}

// Unyield marks g answering again.
func (f *Fake) Unyield(_ context.Context, g Group) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("unyield", g); err != nil {
		return err
	}
	delete(f.yielded, g.Name)
	return nil
}

// Announce records an announcement.
func (f *Fake) Announce(_ context.Context, g Group) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.record("announce", g)
}

// Answering reports whether this host would answer ARP for group now.
func (f *Fake) Answering(group string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[group] && !f.yielded[group]
}

// Calls returns the calls so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

package vip

import (
	"context"
	"sync"
)

// Fake records what it was asked to do; tests read it back.
type Fake struct {
	mu       sync.Mutex // guards everything below
	held     map[string]bool
	Calls    []string // "acquire web", "release web", "announce web"
	FailNext error    // returned once by the next call
}

var _ Client = (*Fake)(nil)

// NewFake returns a Fake holding nothing.
func NewFake() *Fake { return &Fake{held: map[string]bool{}} }

func (f *Fake) record(op string, g Group) error {
	f.Calls = append(f.Calls, op+" "+g.Name)
	if err := f.FailNext; err != nil {
		f.FailNext = nil
		return err
	}
	return nil
}

// Acquire marks g held.
func (f *Fake) Acquire(_ context.Context, g Group) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("acquire", g); err != nil {
		return false, err
	}
	changed := !f.held[g.Name]
	f.held[g.Name] = true
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
	return nil
}

// Held reports whether g is held.
func (f *Fake) Held(g Group) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[g.Name], nil
}

// Yield records a yield.
func (f *Fake) Yield(_ context.Context, g Group) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.record("yield", g)
}

// Unyield records an unyield.
func (f *Fake) Unyield(_ context.Context, g Group) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.record("unyield", g)
}

// Announce records an announcement.
func (f *Fake) Announce(_ context.Context, g Group) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.record("announce", g)
}

// Snapshot returns the calls so far.
func (f *Fake) Snapshot() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Calls...)
}

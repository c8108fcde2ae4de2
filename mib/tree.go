package mib

import (
	"slices"
	"sync"
	"time"

	"github.com/droverha/drover/mib/agentx"
	"github.com/droverha/drover/model"
)

// Tree is an immutable set of object instances ordered by OID: the answer
// to every Get and GetNext of one snapshot. It is safe for concurrent use.
type Tree struct {
	rows []agentx.VarBind // sorted by Name, no duplicates
	// Built is when the snapshot was taken.
	Built time.Time
}

// NewTree returns a tree of vbs, sorted by name. Of several instances
// with one name (only two names with one DroverNameHash make them, which
// configuration validation refuses) one is kept. vbs must not be changed
// afterwards.
func NewTree(vbs []agentx.VarBind) *Tree {
	slices.SortFunc(vbs, func(a, b agentx.VarBind) int { return a.Name.Compare(b.Name) })
	out := vbs[:0]
	for i, vb := range vbs {
		if i+1 < len(vbs) && vbs[i+1].Name.Equal(vb.Name) {
			continue
		}
		out = append(out, vb)
	}
	return &Tree{rows: out}
}

// Len is the number of object instances.
func (t *Tree) Len() int { return len(t.rows) }

// Rows returns the instances in OID order. The slice must not be changed.
func (t *Tree) Rows() []agentx.VarBind { return t.rows }

// search returns the index of the first row whose name is ≥ oid.
func (t *Tree) search(oid agentx.OID) int {
	i, _ := slices.BinarySearchFunc(t.rows, oid, func(vb agentx.VarBind, o agentx.OID) int { return vb.Name.Compare(o) })
	return i
}

// Get returns the instance named oid, or noSuchInstance when oid names no
// instance but lies under an object the tree has instances of, or
// noSuchObject otherwise (RFC 3416 §4.2.1).
func (t *Tree) Get(oid agentx.OID) agentx.VarBind {
	i := t.search(oid)
	if i < len(t.rows) && t.rows[i].Name.Equal(oid) {
		return t.rows[i]
	}
	// An object's instances share its OID minus the index. The nearest
	// rows on both sides tell whether oid sits inside a known object.
	for _, j := range []int{i - 1, i} {
		if j >= 0 && j < len(t.rows) && sameObject(t.rows[j].Name, oid) {
			return agentx.NoSuchInstance(oid)
		}
	}
	return agentx.NoSuchObject(oid)
}

// sameObject reports whether oid lies under the object (the column or the
// scalar) of instance name: inside droverObjects, an object is the OID up
// to the column number, which comes right after the table entry (or the
// scalar group) identifier.
func sameObject(name, oid agentx.OID) bool {
	n := objectLen(name)
	return n > 0 && len(oid) > n && slices.Equal(name[:n], oid[:n])
}

// objectLen is the length of the object identifier inside instance name:
// droverCluster scalars are droverObjects.1.<col>.0, table columns are
// droverObjects.<table>.1.<col>.<index...>. 0 outside droverObjects.
func objectLen(name agentx.OID) int {
	p := len(Objects)
	if !name.HasPrefix(Objects) || len(name) < p+2 {
		return 0
	}
	if name[p] == 1 { // droverCluster scalars
		return p + 2
	}
	if len(name) < p+3 {
		return 0
	}
	return p + 3
}

// GetNext returns the first instance inside r (agentx.InRange), or an
// endOfMibView when there is none.
func (t *Tree) GetNext(r agentx.SearchRange) agentx.VarBind {
	i := t.search(r.Start)
	if i < len(t.rows) && !r.Include && t.rows[i].Name.Equal(r.Start) {
		i++
	}
	if i < len(t.rows) && agentx.InRange(t.rows[i].Name, r) {
		return t.rows[i]
	}
	return agentx.EndOfMibView(r.Start)
}

// Snapshots hands out trees built from the cluster view so that one walk
// sees one snapshot. A manager's walk is a burst of requests a few
// milliseconds apart: the current tree is kept while requests keep coming
// less than Idle apart, and is rebuilt on the first request after a quiet
// spell or once it is older than MaxAge (so steady polling from several
// managers still sees fresh values). It is safe for concurrent use; the
// build runs under its lock, so concurrent requests wait for one build.
type Snapshots struct {
	// Idle is the quiet time after which the next request gets a fresh
	// tree (default 1 s).
	Idle time.Duration
	// MaxAge bounds the age of a tree handed out (default 30 s): a walk
	// longer than this may see two snapshots.
	MaxAge time.Duration

	view func() model.View
	zero time.Time

	mu    sync.Mutex
	tree  *Tree
	disc  *discontinuities
	last  time.Time // the last request
	built uint64
}

// Default snapshot timing.
const (
	DefaultIdle   = time.Second
	DefaultMaxAge = 30 * time.Second
)

// NewSnapshots returns Snapshots that build trees from view. zero is the
// instant sysUpTime was 0 for the managers that read the trees (the
// master agent's start in subagent mode, the agent's start standalone):
// TimeStamp objects count from it.
func NewSnapshots(view func() model.View, zero time.Time) *Snapshots {
	return &Snapshots{Idle: DefaultIdle, MaxAge: DefaultMaxAge, view: view, zero: zero}
}

// Zero is the instant sysUpTime was 0.
func (s *Snapshots) Zero() time.Time { return s.zero }

// Tree returns the tree for a request arriving at now.
func (s *Snapshots) Tree(now time.Time) *Tree {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tree == nil || now.Sub(s.last) >= s.Idle || now.Sub(s.tree.Built) >= s.MaxAge || now.Before(s.tree.Built) {
		if s.disc == nil {
			s.disc = newDiscontinuities()
		}
		start := time.Now()
		s.disc.begin()
		s.tree = (&builder{zero: s.zero, disc: s.disc}).build(s.view())
		s.disc.end()
		s.tree.Built = now
		s.built++
		// The quiet spell starts when the answer leaves, not when the
		// request came: a build slower than Idle must not make every
		// request of a walk build again.
		now = now.Add(time.Since(start))
	}
	s.last = now
	return s.tree
}

// Builds is how many trees were built.
func (s *Snapshots) Builds() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.built
}

// Handler answers AgentX requests from s: each request reads the tree of
// the instant it arrived.
func (s *Snapshots) Handler() agentx.Handler { return snapshotHandler{s} }

type snapshotHandler struct{ s *Snapshots }

func (h snapshotHandler) Get(oid agentx.OID) agentx.VarBind {
	return h.s.Tree(time.Now()).Get(oid)
}

func (h snapshotHandler) GetNext(r agentx.SearchRange) agentx.VarBind {
	return h.s.Tree(time.Now()).GetNext(r)
}

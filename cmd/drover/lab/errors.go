package lab

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoLab is returned, wrapped, by Open for a lab that has neither a state
// directory nor namespaces.
var ErrNoLab = errors.New("no such lab")

// ErrNotRoot is returned, wrapped, by Up when the process cannot create
// network namespaces.
var ErrNotRoot = errors.New("drover lab needs root: it creates network namespaces")

// Problem is one thing wrong with a topology. File and Line are empty when
// unknown (a topology built in Go, or parsed from bytes).
type Problem struct {
	File   string
	Line   int
	Key    string // e.g. hosts[1].addr; "" for the file as a whole
	Reason string
}

func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Reason)
	return b.String()
}

// Problems is every problem found in a topology, in file order. The CLI
// prints one per line and exits 2.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

package mib

import (
	"time"

	"github.com/droverha/drover/mib/agentx"
	"github.com/droverha/drover/model"
)

// Objects is droverObjects, 1.3.6.1.4.1.99999.1.
var Objects = agentx.OID{1, 3, 6, 1, 4, 1, 99999, 1}

// Build returns the tree of DROVER-MIB objects that v shows. TimeStamp
// objects count centiseconds from zero (see NewSnapshots).
func Build(v model.View, zero time.Time) *Tree {
	return NewTree(nil)
}

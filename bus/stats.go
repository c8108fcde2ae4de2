package bus

import (
	"errors"
	"sync/atomic"

	"github.com/droverha/drover/model"
)

// Drops counts messages received and dropped, by reason. The zero value is
// ready to use and safe for concurrent use.
type Drops struct {
	malformed      atomic.Uint64
	unknownVersion atomic.Uint64
	staleEpoch     atomic.Uint64
	late           atomic.Uint64
}

// Count records err if it is one of the drop reasons and reports whether
// it was.
func (d *Drops) Count(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrUnknownVersion):
		d.unknownVersion.Add(1)
	case errors.Is(err, ErrStaleEpoch):
		d.staleEpoch.Add(1)
	case errors.Is(err, ErrLate):
		d.late.Add(1)
	default:
		d.malformed.Add(1)
	}
	return true
}

// Snapshot returns the counts.
func (d *Drops) Snapshot() model.Dropped {
	return model.Dropped{
		Malformed:      d.malformed.Load(),
		UnknownVersion: d.unknownVersion.Load(),
		StaleEpoch:     d.staleEpoch.Load(),
		Late:           d.late.Load(),
	}
}

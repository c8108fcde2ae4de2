package config

import (
	"fmt"
	"io/fs"
)

// ErrNoInterface is what Options.Interfaces returns, wrapped or not, for
// an interface the host does not have. It matches fs.ErrNotExist too.
var ErrNoInterface = fmt.Errorf("no such network interface: %w", fs.ErrNotExist)

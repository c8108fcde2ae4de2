//go:build !linux

package ipvs

import (
	"fmt"
	"runtime"
)

// New fails: IPVS is Linux's.
func New(Options) (Client, error) {
	return nil, fmt.Errorf("ipvs: not supported on %s/%s: %w", runtime.GOOS, runtime.GOARCH, ErrNotSupported)
}

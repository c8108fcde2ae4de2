//go:build !linux

package vip

import (
	"fmt"
	"runtime"
)

// New fails: moving addresses needs Linux netlink.
func New(Options) (Client, error) {
	return nil, fmt.Errorf("vip: not supported on %s/%s", runtime.GOOS, runtime.GOARCH)
}

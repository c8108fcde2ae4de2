//go:build !unix

package check

import "time"

// cpuTime is unknown here; benchmarks then report no per-CPU rate.
func cpuTime() time.Duration { return 0 }

package ipvs

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNotSupported: the kernel has no IPVS (the ip_vs module is not
	// loaded, or the platform is not Linux).
	ErrNotSupported = errors.New("ipvs: not supported by this kernel")
	// ErrUnknownScheduler: the kernel has no scheduler of that name (no
	// module ip_vs_NAME).
	ErrUnknownScheduler = errors.New("ipvs: unknown scheduler")
)

// existError says what did or did not exist. It matches fs.ErrExist or
// fs.ErrNotExist and unwraps to the kernel's errno, if any.
type existError struct {
	msg    string
	target error // fs.ErrExist or fs.ErrNotExist
	errno  error
}

func (e *existError) Error() string {
	if e.errno == nil {
		return e.msg
	}
	return e.msg + " (" + e.errno.Error() + ")"
}

func (e *existError) Is(target error) bool { return target == e.target }
func (e *existError) Unwrap() error        { return e.errno }

// ApplyError lists the operations of a batch that failed; the others were
// applied.
type ApplyError struct {
	Attempted int // operations tried, failed or not
	Failed    []*OpError
}

func (e *ApplyError) Error() string {
	const shown = 3
	var b strings.Builder
	fmt.Fprintf(&b, "ipvs: %d of %d operations failed: ", len(e.Failed), e.Attempted)
	for i, f := range e.Failed[:min(len(e.Failed), shown)] {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %v", f.Op, f.Err)
	}
	if len(e.Failed) > shown {
		fmt.Fprintf(&b, "; and %d more", len(e.Failed)-shown)
	}
	return b.String()
}

// Unwrap returns the operations' errors, so errors.Is and errors.As look
// into each.
func (e *ApplyError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f
	}
	return errs
}

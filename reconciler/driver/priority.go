package driver

import "errors"

// Priority is a color's CPU priority relative to the other color.
type Priority int

const (
	PriorityNormal Priority = iota
	PriorityLow
)

func (p Priority) String() string {
	if p == PriorityLow {
		return "low"
	}
	return "normal"
}

// ErrPriorityNotPermitted means the kernel refused to raise a priority:
// that needs root, CAP_SYS_NICE or a RLIMIT_NICE allowance. The color
// keeps running at its lower priority; the pipeline warns and goes on.
var ErrPriorityNotPermitted = errors.New("raising CPU priority is not permitted (needs root, CAP_SYS_NICE or RLIMIT_NICE)")

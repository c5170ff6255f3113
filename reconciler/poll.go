package reconciler

import (
	"context"
	"fmt"
	"time"
)

// errPollTimeout is wrapped by poll when the timeout passes.
var errPollTimeout = fmt.Errorf("timed out")

// How the ready gate polls a standby that loads its model: at once, then
// after ReadyPollFirst, doubling up to ReadyPollMax. A 1 GB standby is not
// ready for tens of seconds; a fixed 100 ms poll of /ready, the driver's
// /health/deep and the hopeless check cost it about one core (issue 10),
// which it takes from the active color. The backoff finds a standby that
// loads quickly as soon, and one that loads slowly at most ReadyPollMax
// late (make bench-probes).
const (
	ReadyPollFirst = 100 * time.Millisecond
	ReadyPollMax   = 2 * time.Second
)

// poll calls check every interval, at once first, until it reports done,
// fails with a permanent error, timeout passes or ctx ends. A check's
// error is permanent (fail fast: the standby died); a transient problem is
// reported as not done, with its reason in last, which the timeout error
// quotes.
func poll(ctx context.Context, interval, timeout time.Duration, check func(ctx context.Context) (done bool, last string, err error)) error {
	return pollBackoff(ctx, interval, interval, timeout, check)
}

// pollBackoff is poll with a growing interval: first after the first
// check, doubled after each one up to most.
func pollBackoff(ctx context.Context, first, most, timeout time.Duration, check func(ctx context.Context) (done bool, last string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTimer(first)
	defer t.Stop()
	wait := first
	var last string
	for {
		done, why, err := check(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if why != "" && ctx.Err() == nil { // not the deadline cutting a check short
			last = why
		}
		select {
		case <-ctx.Done():
			if context.Cause(ctx) == context.DeadlineExceeded {
				if last == "" {
					return fmt.Errorf("%w after %s", errPollTimeout, timeout)
				}
				return fmt.Errorf("%w after %s: %s", errPollTimeout, timeout, last)
			}
			return context.Cause(ctx)
		case <-t.C:
		}
		wait = min(2*wait, most)
		t.Reset(wait)
	}
}

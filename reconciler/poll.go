package reconciler

import (
	"context"
	"fmt"
	"time"
)

// errPollTimeout is wrapped by poll when the timeout passes.
var errPollTimeout = fmt.Errorf("timed out")

// poll calls check every interval, at once first, until it reports done,
// fails with a permanent error, timeout passes or ctx ends. A check's
// error is permanent (fail fast: the standby died); a transient problem is
// reported as not done, with its reason in last, which the timeout error
// quotes.
func poll(ctx context.Context, interval, timeout time.Duration, check func(ctx context.Context) (done bool, last string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
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
	}
}

package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/client"
)

// ErrDockerUnavailable wraps every error that means the daemon could not be
// reached or did not answer in time. The deploy that hit it fails before or
// rolls back after the swap like any failed gate; callers may retry later.
var ErrDockerUnavailable = errors.New("docker daemon unavailable")

// call runs one Docker API call under its own timeout (extra is added for
// calls that wait on purpose, such as a graceful stop). A daemon that cannot
// be dialled is retried with a short backoff: nothing was sent, so retrying
// is safe even for calls that change things. A daemon that accepted the
// call but did not answer in time is not retried: the caller observes
// before acting again.
func (d *Docker) call(ctx context.Context, op string, extra time.Duration, fn func(ctx context.Context) error) error {
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, d.callTimeout+extra)
		err := fn(cctx)
		timedOut := cctx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case err == nil:
			return nil
		case timedOut:
			return fmt.Errorf("docker %s: no answer within %s: %w: %w", op, d.callTimeout+extra, ErrDockerUnavailable, err)
		case !client.IsErrConnectionFailed(err):
			return fmt.Errorf("docker %s: %w", op, err)
		case attempt >= d.retries:
			return fmt.Errorf("docker %s: %d tries: %w (is dockerd running? DOCKER_HOST=%s): %w",
				op, attempt, ErrDockerUnavailable, d.api.DaemonHost(), err)
		}
		d.log.Warn("docker daemon unreachable, retrying", "op", op, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("docker %s: %w", op, ctx.Err())
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

var _ reachable = (*Docker)(nil)

// Reachable pings the daemon once, without retries: the reconciler asks it
// before recovering colors on a runtime state.json does not name, so a
// machine without Docker costs one failed dial, not a retry loop.
func (d *Docker) Reachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(d.callTimeout, 3*time.Second))
	defer cancel()
	if _, err := d.api.Ping(ctx); err != nil {
		return fmt.Errorf("docker ping: %w: %w", ErrDockerUnavailable, err)
	}
	return nil
}

package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/dockercall"
)

// ErrUnavailable wraps every error that means the daemon could not be
// reached or did not answer in time. The deploy that hit it fails before or
// rolls back after the swap like any failed gate; callers may retry later.
// It is nginx's too: one daemon, one sentinel.
var ErrUnavailable = dockercall.ErrUnavailable

// call runs one Docker API call under its own timeout (extra is added for
// calls that wait on purpose, such as a graceful stop), retrying a daemon
// that cannot be dialled (see dockercall.Policy).
func (d *Docker) call(ctx context.Context, op string, extra time.Duration, fn func(ctx context.Context) error) error {
	p := dockercall.Policy{Timeout: d.callTimeout + extra, Tries: d.retries, Backoff: 250 * time.Millisecond,
		Host: d.api.DaemonHost(), Log: d.log}
	return p.Do(ctx, op, fn)
}

// Reachable pings the daemon once, without retries: the reconciler asks it
// before recovering colors on a runtime state.json does not name, so a
// machine without Docker costs one failed dial, not a retry loop.
func (d *Docker) Reachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(d.callTimeout, 3*time.Second))
	defer cancel()
	if _, err := d.api.Ping(ctx); err != nil {
		return fmt.Errorf("docker ping: %w: %w", ErrUnavailable, err)
	}
	return nil
}

package dockercall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/docker/docker/client"
)

// ErrUnavailable wraps every error that means the daemon could not be
// reached or did not answer in time. A deploy that hits it fails like any
// failed gate; callers may retry later.
var ErrUnavailable = errors.New("docker daemon unavailable")

// Policy is how one Docker API call is bounded and retried.
type Policy struct {
	Timeout time.Duration // for each try
	Tries   int           // tries while the daemon cannot be dialled (at least one)
	Backoff time.Duration // wait after the first failed dial, doubled after each
	Host    string        // the daemon's address, named in errors (DOCKER_HOST)
	Log     *slog.Logger  // warns before each retry; nil logs nothing
}

// Do runs fn under its own timeout. A daemon that cannot be dialled is
// retried: nothing was sent, so retrying is safe even for calls that
// change things. A daemon that accepted the call but did not answer in
// time is not retried: the caller observes before acting again. op names
// the call in errors, e.g. "start zdml-blue".
func (p Policy) Do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	backoff := p.Backoff
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, p.Timeout)
		err := fn(cctx)
		timedOut := cctx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case err == nil:
			return nil
		case timedOut:
			return fmt.Errorf("docker %s: no answer within %s: %w: %w", op, p.Timeout, ErrUnavailable, err)
		case !client.IsErrConnectionFailed(err):
			return fmt.Errorf("docker %s: %w", op, err)
		case attempt >= p.Tries:
			return fmt.Errorf("docker %s: %d tries: %w (is dockerd running? DOCKER_HOST=%s): %w",
				op, attempt, ErrUnavailable, p.Host, err)
		}
		if p.Log != nil {
			p.Log.Warn("docker daemon unreachable, retrying", "op", op, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("docker %s: %w", op, ctx.Err())
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

package process

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Stop sends SIGTERM (the server stops taking work, finishes what it has
// and exits 0) and kills the process group only when timeout passes. ctx
// bounds how long the caller waits, never the stop itself: when ctx ends
// first, Stop returns its cause and the color keeps shutting down
// gracefully (it exits by itself once its requests finish, within its
// --shutdown-timeout), so a cancelled caller never cuts its requests.
func (p *Process) Stop(ctx context.Context, c spec.Color, timeout time.Duration) error {
	rec, ok, err := p.readRecord(c)
	if err != nil || !ok {
		return err
	}
	if exited, _ := p.exited(c, rec); exited {
		p.removeRecord(c)
		return nil
	}
	if err := syscall.Kill(rec.PID, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("stop %s pid %d: %w", c, rec.PID, err)
	}
	p.log.Info("stopping color", "color", c, "pid", rec.PID)
	switch p.waitExit(ctx, c, rec, timeout) {
	case exitedInTime:
	case callerGone:
		return fmt.Errorf("stop %s pid %d: SIGTERM sent; it is still finishing its requests: %w", c, rec.PID, context.Cause(ctx))
	case timedOut:
		_ = syscall.Kill(-rec.PID, syscall.SIGKILL) // its session's process group
		_ = syscall.Kill(rec.PID, syscall.SIGKILL)
		p.waitExit(context.Background(), c, rec, 5*time.Second)
		p.log.Warn("killed color after stop timeout", "color", c, "pid", rec.PID, "timeout", timeout)
	}
	p.removeRecord(c)
	return nil
}

// waitResult is how waitExit ended.
type waitResult int

const (
	exitedInTime waitResult = iota
	timedOut                // the timeout passed first
	callerGone              // ctx ended first
)

// waitExit waits until the process is gone, up to timeout or ctx.
func (p *Process) waitExit(ctx context.Context, c spec.Color, rec instanceRecord, timeout time.Duration) waitResult {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if gone, _ := p.exited(c, rec); gone {
			return exitedInTime
		}
		select {
		case <-ctx.Done():
			return callerGone
		case <-deadline.C:
			return timedOut
		case <-tick.C:
		}
	}
}

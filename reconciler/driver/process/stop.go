package process

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Stop sends SIGTERM (the server stops taking work, finishes what it has
// and exits 0) and kills the process when timeout or ctx runs out.
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
	if !p.waitExit(ctx, c, rec, timeout) {
		_ = syscall.Kill(-rec.PID, syscall.SIGKILL) // its session's process group
		_ = syscall.Kill(rec.PID, syscall.SIGKILL)
		p.waitExit(context.Background(), c, rec, 5*time.Second)
		p.log.Warn("killed color after stop timeout", "color", c, "pid", rec.PID, "timeout", timeout)
	}
	p.removeRecord(c)
	return nil
}

// waitExit waits until the process is gone, up to timeout or ctx.
func (p *Process) waitExit(ctx context.Context, c spec.Color, rec instanceRecord, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if gone, _ := p.exited(c, rec); gone {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

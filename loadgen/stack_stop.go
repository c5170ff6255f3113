package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Stop stops everything the stack started, in order: the daemon (so it
// does not self-heal what follows), both colors through the runtime's
// driver, then nginx, then any model server still recorded by pid. It then
// checks that nothing listens on the stack's addresses, and removes the
// stack's temporary directory (ZDML_KEEP_STACK=1 keeps it, for debugging).
func (s *Stack) Stop(ctx context.Context) error {
	var errs []error
	errs = append(errs, s.stopDaemon(ctx))
	errs = append(errs, s.stopColors(ctx))
	if n, err := nginx.NewLocal(filepath.Join(s.StateDir, "nginx")); err == nil {
		errs = append(errs, n.Stop(ctx))
	}
	s.killRecorded()
	errs = append(errs, s.checkQuiet(ctx))
	err := errors.Join(errs...)
	if err == nil && s.ownDir && os.Getenv("ZDML_KEEP_STACK") == "" {
		_ = os.RemoveAll(s.Dir)
	}
	if err != nil {
		return fmt.Errorf("stack stop (files kept in %s): %w", s.Dir, err)
	}
	return nil
}

func (s *Stack) stopDaemon(ctx context.Context) error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(20 * time.Second):
	case <-ctx.Done():
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-s.exited
	return fmt.Errorf("reconciler pid %d did not stop on SIGTERM within 20s; killed", pid)
}

// stopColors stops both colors with the runtime's own driver (process or
// docker), which finds them through the state directory.
func (s *Stack) stopColors(ctx context.Context) error {
	d, err := reconciler.NewDriver(s.cfg.Runtime, driver.Config{
		StateDir: s.StateDir, Modelserver: s.cfg.Modelserver, Log: s.cfg.Log})
	if err != nil {
		return fmt.Errorf("stop colors: %w", err)
	}
	var errs []error
	for _, c := range spec.Colors {
		if err := d.Stop(ctx, c, 15*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

// killRecorded kills the process group of any model server whose pid
// file is still there: the last resort when a driver could not stop it.
func (s *Stack) killRecorded() {
	for _, c := range spec.Colors {
		b, err := os.ReadFile(filepath.Join(s.StateDir, "colors", string(c), "pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 && procfs.Alive(pid) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// checkQuiet fails when anything still listens on one of the stack's
// addresses, waiting a little for sockets of exiting processes to close.
func (s *Stack) checkQuiet(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var busy []string
		for _, a := range []string{s.Public, s.Admin, s.API, s.Blue, s.Green} {
			if a == "" {
				continue
			}
			if c, err := net.DialTimeout("tcp", a, 200*time.Millisecond); err == nil {
				c.Close()
				busy = append(busy, a)
			}
		}
		if len(busy) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("still listening after stop: %s", strings.Join(busy, ", "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

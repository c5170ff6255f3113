package process

import (
	"context"
	"strconv"
	"syscall"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Recover re-attaches to the colors an earlier reconciler left running,
// forgets records of processes that are gone, and adopts or stops model
// servers of this state directory that have no record (a reconciler
// killed between starting one and writing its pid file).
func (p *Process) Recover(ctx context.Context) ([]driver.Status, error) {
	var out []driver.Status
	for _, c := range spec.Colors {
		st, err := p.Inspect(ctx, c)
		if err != nil {
			return out, err
		}
		if !st.Running && st.ID != "" {
			p.log.Info("forgot stopped color", "color", c, "why", st.ExitErr)
			p.removeRecord(c)
		}
		if st, err = p.recoverOrphans(ctx, c, st); err != nil {
			return out, err
		}
		out = append(out, st)
	}
	return out, nil
}

// recoverOrphans finds this color's unrecorded model servers; with no
// recorded live one, the first orphan is adopted (its config unknown, so
// the reconciler replaces it unless it is what nginx serves); others stop.
func (p *Process) recoverOrphans(ctx context.Context, c spec.Color, st driver.Status) (driver.Status, error) {
	all, _ := procfs.PIDs() // an unreadable /proc finds no orphans
	for _, pid := range all {
		if strconv.Itoa(pid) == st.ID || !procfs.Alive(pid) || !p.owns(c, pid) {
			continue
		}
		if st.Running {
			p.log.Warn("stopping orphan model server", "color", c, "pid", pid)
			_ = syscall.Kill(pid, syscall.SIGTERM)
			continue
		}
		rec := orphanRecord(c, pid, procfs.Cmdline(pid))
		if err := p.writeRecord(rec); err != nil {
			return st, err
		}
		p.log.Warn("adopted unrecorded model server", "color", c, "pid", pid)
		return p.Inspect(ctx, c)
	}
	return st, nil
}

package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Inspect observes one color: its record, whether its process lives (and
// is ours, not a stranger that reused the pid), and the server's identity.
func (p *Process) Inspect(ctx context.Context, c spec.Color) (driver.Status, error) {
	rec, ok, err := p.readRecord(c)
	if err != nil || !ok {
		return driver.Status{Color: c}, err
	}
	if exited, why := p.exited(c, rec); exited {
		return driver.Status{Color: c, ID: strconv.Itoa(rec.PID), Addr: rec.Addr, ModelVersion: rec.Version,
			ConfigHash: rec.ConfigHash, ExitErr: why}, nil
	}
	st := rec.status()
	d, err := p.client.Deep(ctx, rec.Addr)
	if err == nil && d.PID == rec.PID && d.InstanceID != "" {
		st.InstanceID = d.InstanceID
		if rec.InstanceID != d.InstanceID {
			rec.InstanceID = d.InstanceID
			if err := p.writeRecord(rec); err != nil {
				p.log.Warn("record instance id", "color", c, "err", err)
			}
		}
	}
	return st, nil
}

// exited reports whether the recorded process is gone, and why.
func (p *Process) exited(c spec.Color, rec instanceRecord) (bool, string) {
	p.mu.Lock()
	ch := p.procs[c]
	p.mu.Unlock()
	if ch != nil && ch.pid == rec.PID {
		select {
		case <-ch.done:
			why := "exited"
			if ch.err != nil {
				why = ch.err.Error()
			}
			return true, p.explain(c, rec, why)
		default:
			return false, ""
		}
	}
	if !procfs.Alive(rec.PID) || !p.owns(c, rec.PID) {
		return true, p.explain(c, rec, fmt.Sprintf("process %d is gone", rec.PID))
	}
	return false, ""
}

// owns checks a pid's command line for this state directory's chat
// database and the color: only a model server this state directory
// started carries both. (Before the colors shared one database, each had
// its own under colors/<color>/; a server started then is still ours.)
func (p *Process) owns(c spec.Color, pid int) bool { return p.ownsArgs(c, procfs.Cmdline(pid)) }

func (p *Process) ownsArgs(c spec.Color, args []string) bool {
	var db, color string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--db":
			db = args[i+1]
		case "--color":
			color = args[i+1]
		}
	}
	return (db == p.dbPath() && color == string(c)) || db == filepath.Join(p.dir(c), driver.ChatDBFile)
}

// explain adds the tail of this run's log to why a color stopped.
func (p *Process) explain(c spec.Color, rec instanceRecord, why string) string {
	tail := logTail(filepath.Join(p.dir(c), logFileName), rec.LogOffset, 8)
	if tail == "" {
		return why
	}
	return why + "; log tail: " + tail
}

// logTail returns the last n lines written after offset, joined by " | ".
func logTail(path string, offset int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= offset {
		return ""
	}
	start := max(offset, fi.Size()-8192)
	b := make([]byte, fi.Size()-start)
	if _, err := f.ReadAt(b, start); err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

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

// SetPriority renices every thread of a running color (and its autogroup).
func (p *Process) SetPriority(ctx context.Context, c spec.Color, pr driver.Priority) error {
	rec, ok, err := p.readRecord(c)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("priority of %s: not running", c)
	}
	if exited, _ := p.exited(c, rec); exited {
		return fmt.Errorf("priority of %s: not running", c)
	}
	if err := setProcessPriority(rec.PID, niceValue(pr, p.lowNice)); err != nil {
		return err
	}
	rec.Priority = pr
	return p.writeRecord(rec)
}

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

// orphanRecord rebuilds a record from a server's command line.
func orphanRecord(c spec.Color, pid int, args []string) instanceRecord {
	rec := instanceRecord{Color: c, PID: pid, StartedAt: time.Now().UTC(), Args: args}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--addr":
			rec.Addr = args[i+1]
		case "--model-version":
			rec.Version = args[i+1]
		case "--model-name":
			rec.ModelName = args[i+1]
		case "--model":
			rec.ModelPath = args[i+1]
		}
	}
	return rec
}

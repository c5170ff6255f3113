package process

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

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
	lines, _ := tailLines(path, offset, 8192, n)
	return strings.Join(lines, " | ")
}

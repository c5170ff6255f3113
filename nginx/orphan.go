package nginx

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
)

// orphans lists the nginx workers of dir whose master is gone. A master
// killed with SIGKILL (by an operator, or the OOM killer) cannot tell its
// workers to exit: they keep running, holding the listening sockets and
// serving the old config, and a new master cannot bind its ports. They are
// recognised by their title and by a file of dir they hold open (the logs).
// A /proc that cannot be listed is an error, not "no orphans".
func orphans(dir string) ([]int, error) {
	pids, err := procfs.PIDs()
	if err != nil {
		return nil, fmt.Errorf("nginx orphans: %w", err)
	}
	var out []int
	for _, pid := range pids {
		title := strings.Join(procfs.Cmdline(pid), " ")
		if !strings.HasPrefix(title, "nginx: ") || strings.HasPrefix(title, "nginx: master") {
			continue
		}
		if _, ppid, ok := procfs.Stat(pid); !ok || isMaster(ppid) {
			continue
		}
		if holdsFileUnder(pid, dir) {
			out = append(out, pid)
		}
	}
	return out, nil
}

func isMaster(pid int) bool {
	return strings.HasPrefix(strings.Join(procfs.Cmdline(pid), " "), "nginx: master") && procfs.Alive(pid)
}

// holdsFileUnder reports whether pid has a file below dir open.
func holdsFileUnder(pid int, dir string) bool {
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	for _, f := range procfs.OpenFiles(pid) {
		if strings.HasPrefix(f, prefix) {
			return true
		}
	}
	return false
}

// killOrphans kills the orphaned workers of dir and waits until they are
// gone, so that their sockets are free for a new master.
func (l *Local) killOrphans(ctx context.Context) error {
	pids, err := orphans(l.dir)
	if err != nil || len(pids) == 0 {
		return err
	}
	l.log.Warn("killing nginx workers left by a master that died", "pids", pids, "dir", l.dir)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for procfs.Alive(pid) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

package nginx

import (
	"fmt"
	"strings"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
)

// ProcWorkers lists the worker processes of the nginx master whose host pid
// is master, from /proc. A worker that got the master's quit order after a
// reload retitles itself "worker process is shutting down" in the same step
// in which it closes its listening sockets, so Retiring means "accepts no new
// connection". It works for any master visible in this host's /proc,
// including one in a container (its host pid).
func ProcWorkers(master int) ([]Worker, error) {
	pids, err := procfs.PIDs()
	if err != nil {
		return nil, fmt.Errorf("nginx workers: %w", err)
	}
	var out []Worker
	for _, pid := range pids {
		if state, ppid, ok := procfs.Stat(pid); !ok || ppid != master || state == "Z" {
			continue
		}
		title := strings.Join(procfs.Cmdline(pid), " ")
		if !strings.Contains(title, "nginx: ") {
			continue // exited meanwhile, or not a worker (a cache loader)
		}
		if strings.Contains(title, "cache") {
			continue
		}
		out = append(out, Worker{PID: pid, Retiring: strings.Contains(title, "shutting down")})
	}
	return out, nil
}

// current returns the pids of the workers that accept connections.
func current(ws []Worker) []int {
	var out []int
	for _, w := range ws {
		if !w.Retiring {
			out = append(out, w.PID)
		}
	}
	return out
}

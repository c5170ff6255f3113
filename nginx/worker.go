package nginx

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcWorkers lists the worker processes of the nginx master whose host pid
// is master, from /proc. A worker that got the master's quit order after a
// reload retitles itself "worker process is shutting down" in the same step
// in which it closes its listening sockets, so Retiring means "accepts no new
// connection". It works for any master visible in this host's /proc,
// including one in a container (its host pid).
func ProcWorkers(master int) ([]Worker, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("nginx workers: %w", err)
	}
	var out []Worker
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := procStat(pid); !ok || ppid != master || state == "Z" {
			continue
		}
		title, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(title, []byte("nginx: ")) {
			continue // exited meanwhile, or not a worker (a cache loader)
		}
		if bytes.Contains(title, []byte("cache")) {
			continue
		}
		out = append(out, Worker{PID: pid, Retiring: bytes.Contains(title, []byte("shutting down"))})
	}
	return out, nil
}

// procStat returns the state and parent pid from /proc/PID/stat.
func procStat(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid, true
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

package nginx

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// Workers lists the master's workers. When the master's host pid is visible
// here (the reconciler runs on the host) it reads /proc, as Local does;
// otherwise (the reconciler itself in a container) it asks the daemon
// (docker top), which sees the host's processes.
func (d *Docker) Workers(ctx context.Context) ([]Worker, error) {
	c, found, err := d.inspect(ctx)
	if err != nil || !found || !isRunning(c) {
		return nil, err
	}
	if title, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.State.Pid)); err == nil &&
		bytes.Contains(title, []byte("nginx: master")) {
		return ProcWorkers(c.State.Pid)
	}
	var top container.TopResponse
	err = d.call(ctx, "top", func(ctx context.Context) error {
		top, err = d.api.ContainerTop(ctx, c.ID, []string{"-o", "pid,ppid,args"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nginx workers: %w", err)
	}
	return topWorkers(top, c.State.Pid), nil
}

// topWorkers picks the children of master from a `ps -o pid,ppid,args`
// listing.
func topWorkers(top container.TopResponse, master int) []Worker {
	col := map[string]int{}
	for i, t := range top.Titles {
		col[strings.ToUpper(t)] = i
	}
	pidCol, ok1 := col["PID"]
	ppidCol, ok2 := col["PPID"]
	argsCol, ok3 := col["COMMAND"]
	if !ok3 {
		argsCol, ok3 = col["ARGS"]
	}
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	var out []Worker
	for _, p := range top.Processes {
		if len(p) <= max(pidCol, ppidCol, argsCol) {
			continue
		}
		pid, err1 := strconv.Atoi(p[pidCol])
		ppid, err2 := strconv.Atoi(p[ppidCol])
		args := p[argsCol]
		if err1 != nil || err2 != nil || ppid != master || !strings.Contains(args, "nginx: ") || strings.Contains(args, "cache") {
			continue
		}
		out = append(out, Worker{PID: pid, Retiring: strings.Contains(args, "shutting down")})
	}
	return out
}

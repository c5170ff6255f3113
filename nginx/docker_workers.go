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
	return topWorkers(top, c.State.Pid)
}

// topWorkers picks the children of master from a `ps -o pid,ppid,args`
// listing. A listing it cannot read is an error, never "no workers": a
// drain or a reload check that saw no old worker would pass while old
// workers still route to the old color. The master itself must be in the
// listing, which proves the pids are the ones State.Pid is counted in.
func topWorkers(top container.TopResponse, master int) ([]Worker, error) {
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
		return nil, fmt.Errorf("docker top: columns %q: want PID, PPID and COMMAND", top.Titles)
	}
	var out []Worker
	sawMaster := false
	for _, p := range top.Processes {
		if len(p) <= max(pidCol, ppidCol, argsCol) {
			return nil, fmt.Errorf("docker top: row %q: want %d columns", p, len(top.Titles))
		}
		pid, err1 := strconv.Atoi(p[pidCol])
		ppid, err2 := strconv.Atoi(p[ppidCol])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("docker top: row %q: pid or ppid is not a number", p)
		}
		sawMaster = sawMaster || pid == master
		args := p[argsCol]
		if ppid != master || !strings.Contains(args, "nginx: ") || strings.Contains(args, "cache") {
			continue
		}
		out = append(out, Worker{PID: pid, Retiring: strings.Contains(args, "shutting down")})
	}
	if !sawMaster {
		return nil, fmt.Errorf("docker top: the master (pid %d) is not in the listing", master)
	}
	return out, nil
}

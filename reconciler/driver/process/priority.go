package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// DefaultLowNice is the nice value of a low-priority color (a standby
// loading its model) on the process runtime; normal priority is nice 0.
// Linux nice is per thread, so a priority is applied to every thread of a
// process, and to its autogroup: with sched_autogroup on (the default on
// desktops and many servers), nice only orders threads within one session,
// and each color runs in its own session, so the session's autogroup nice
// is what orders the colors.
//
// Nice 10 (weight 110 against nice 0's 1024, about Docker's cpu.shares
// 128) and not 19 (weight 15): make bench-contention, side by side in one
// run, found both keep the active color's latency near idle while the
// standby loads (normal priority does not: p90 10-15 s), but on a machine
// busy with other work nice 19 starves the standby against everything, not
// only the active color: ready took 9.9-47 s at nice 19 against 4.9-15 s at
// nice 10 (on a quiet machine, both ~0.5 s).
const DefaultLowNice = 10

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

// niceValue is the nice of priority pr, with low at lowNice.
func niceValue(pr driver.Priority, lowNice int) int {
	if pr == driver.PriorityLow {
		return lowNice
	}
	return 0
}

// setProcessPriority renices every thread of pid and its autogroup. It
// returns driver.ErrPriorityNotPermitted (wrapped) when raising is refused; the
// process then keeps running at its lower priority.
func setProcessPriority(pid, nice int) error {
	tids, err := procfs.Threads(pid)
	if err != nil {
		return fmt.Errorf("priority of pid %d: %w", pid, err)
	}
	var denied bool
	for _, tid := range tids {
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
				denied = true
				continue
			}
			if !errors.Is(err, syscall.ESRCH) { // a thread that just ended
				return fmt.Errorf("priority of pid %d thread %d: %w", pid, tid, err)
			}
		}
	}
	if err := setAutogroupNice(pid, nice); err != nil && (errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM)) {
		denied = true
	}
	if denied {
		return fmt.Errorf("pid %d to nice %d: %w", pid, nice, driver.ErrPriorityNotPermitted)
	}
	return nil
}

// setAutogroupNice writes the nice of pid's autogroup; kernels without
// autogroups have no such file, which is fine.
func setAutogroupNice(pid, nice int) error {
	path := fmt.Sprintf("%s/%d/autogroup", procfs.Root, pid)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(strconv.Itoa(nice))
	return err
}

// AutogroupNice returns the nice of pid's autogroup (0 without autogroups).
func AutogroupNice(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/autogroup", procfs.Root, pid))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var name string
	var nice int
	if _, err := fmt.Sscanf(string(b), "%s nice %d", &name, &nice); err != nil {
		return 0, fmt.Errorf("autogroup of %d: %q: %w", pid, b, err)
	}
	return nice, nil
}

// ThreadNice returns the nice value of every thread of pid; the tests check
// a standby's priority with it and AutogroupNice.
func ThreadNice(pid int) (map[int]int, error) {
	tids, err := procfs.Threads(pid)
	if err != nil {
		return nil, err
	}
	out := make(map[int]int, len(tids))
	for _, tid := range tids {
		// getpriority returns 20-nice on Linux to stay positive.
		v, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		if err != nil {
			continue
		}
		out[tid] = 20 - v
	}
	return out, nil
}

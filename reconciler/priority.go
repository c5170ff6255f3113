package reconciler

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// Nice values for each Priority. Linux nice is per thread, so a priority
// is applied to every thread of a process, and to its autogroup: with
// sched_autogroup on (the default on desktops and many servers), nice only
// orders threads within one session, and each color runs in its own
// session, so the session's autogroup nice is what orders the colors.
var niceOf = map[Priority]int{PriorityNormal: 0, PriorityLow: 19}

// ErrPriorityNotPermitted means the kernel refused to raise a priority:
// that needs root, CAP_SYS_NICE or a RLIMIT_NICE allowance.
var ErrPriorityNotPermitted = errors.New("raising CPU priority is not permitted (needs root, CAP_SYS_NICE or RLIMIT_NICE)")

// setProcessPriority renices every thread of pid and its autogroup. It
// returns ErrPriorityNotPermitted (wrapped) when raising is refused; the
// process then keeps running at its lower priority.
func setProcessPriority(pid int, p Priority) error {
	nice := niceOf[p]
	tids, err := threads(pid)
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
		return fmt.Errorf("pid %d to nice %d: %w", pid, nice, ErrPriorityNotPermitted)
	}
	return nil
}

// setAutogroupNice writes the nice of pid's autogroup; kernels without
// autogroups have no such file, which is fine.
func setAutogroupNice(pid, nice int) error {
	path := fmt.Sprintf("%s/%d/autogroup", procRoot, pid)
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

// autogroupNice returns the nice of pid's autogroup (0 without autogroups).
func autogroupNice(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/autogroup", procRoot, pid))
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

// threadNice returns the nice value of every thread of pid, for tests and
// `zdml mem`.
func threadNice(pid int) (map[int]int, error) {
	tids, err := threads(pid)
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

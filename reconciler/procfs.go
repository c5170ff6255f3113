package reconciler

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The reconciler reads Linux's /proc directly: memory headroom, a
// process's resident and proportional memory, whether a pid is alive, and
// nginx's old workers. None of it needs a library.

// procRoot is /proc; tests do not change it, but naming it keeps paths in one place.
const procRoot = "/proc"

// memAvailable returns MemAvailable from /proc/meminfo in bytes: the
// kernel's estimate of what can be allocated without swapping.
func memAvailable() (int64, error) {
	f, err := os.Open(procRoot + "/meminfo")
	if err != nil {
		return 0, fmt.Errorf("meminfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			return parseKB(v)
		}
	}
	return 0, errors.New("meminfo: no MemAvailable")
}

// parseKB parses "  123456 kB" into bytes.
func parseKB(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("bad meminfo value %q", s)
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad meminfo value %q", s)
	}
	return n << 10, nil
}

// MemUsage is a process's memory from /proc/PID/smaps_rollup, in bytes.
// Rss counts every resident page; Pss divides shared pages among the
// processes sharing them, so two colors mapping one model file add up to
// one copy of it.
type MemUsage struct {
	PID          int   `json:"pid"`
	Rss          int64 `json:"rss_bytes"`
	Pss          int64 `json:"pss_bytes"`
	SharedClean  int64 `json:"shared_clean_bytes"`
	SharedDirty  int64 `json:"shared_dirty_bytes"`
	PrivateClean int64 `json:"private_clean_bytes"`
	PrivateDirty int64 `json:"private_dirty_bytes"`
}

// Add sums two usages (the master and workers of nginx).
func (m MemUsage) Add(o MemUsage) MemUsage {
	return MemUsage{PID: m.PID, Rss: m.Rss + o.Rss, Pss: m.Pss + o.Pss, SharedClean: m.SharedClean + o.SharedClean,
		SharedDirty: m.SharedDirty + o.SharedDirty, PrivateClean: m.PrivateClean + o.PrivateClean, PrivateDirty: m.PrivateDirty + o.PrivateDirty}
}

// memUsage reads /proc/PID/smaps_rollup.
func memUsage(pid int) (MemUsage, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/smaps_rollup", procRoot, pid))
	if err != nil {
		return MemUsage{}, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	u := MemUsage{PID: pid}
	fields := map[string]*int64{"Rss:": &u.Rss, "Pss:": &u.Pss, "Shared_Clean:": &u.SharedClean,
		"Shared_Dirty:": &u.SharedDirty, "Private_Clean:": &u.PrivateClean, "Private_Dirty:": &u.PrivateDirty}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if p, ok := fields[f[0]]; ok {
			*p, _ = parseKB(strings.Join(f[1:], " "))
		}
	}
	return u, nil
}

// diskFree returns the bytes available to unprivileged users on the file
// system holding path.
func diskFree(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("disk space of %s: %w", path, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	state, _, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// procStat returns the state letter and parent pid from /proc/PID/stat.
func procStat(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
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

// cmdline returns a process's arguments.
func cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/cmdline", procRoot, pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// pids lists every process id.
func pids() []int {
	entries, _ := os.ReadDir(procRoot)
	out := make([]int, 0, len(entries))
	for _, e := range entries {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// threads lists the thread ids of pid (/proc/PID/task).
func threads(pid int) ([]int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("%s/%d/task", procRoot, pid))
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(entries))
	for _, e := range entries {
		if t, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, t)
		}
	}
	return out, nil
}

package procfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// MemAvailable returns MemAvailable from /proc/meminfo in bytes: the
// kernel's estimate of what can be allocated without swapping.
func MemAvailable() (int64, error) {
	f, err := os.Open(Root + "/meminfo")
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

// Memory reads a process's memory from /proc/PID/smaps_rollup.
func Memory(pid int) (MemUsage, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/smaps_rollup", Root, pid))
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

// DiskFree returns the bytes available to unprivileged users on the file
// system holding path (statfs, not /proc: it sits beside the memory
// figures because pre-flight asks for both).
func DiskFree(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("disk space of %s: %w", path, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

package kubecluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The kubelet's cgroup root (layout.cgroupRoot) exists in every cgroup v1
// hierarchy before the kubelet starts (it refuses to start otherwise:
// "cgroup [\"zdmlk0\"] has some missing paths: /sys/fs/cgroup/cpu/zdmlk0, ...").

// createCgroups makes the slot's cgroup root in every hierarchy; cpuset's
// gets its parent's CPUs and memory nodes (a new v1 cpuset has none).
func createCgroups(l layout) error {
	hs, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return fmt.Errorf("cgroups: %w", err)
	}
	for _, h := range hs {
		parent := filepath.Join("/sys/fs/cgroup", h.Name())
		d := filepath.Join(parent, l.cgroupRoot())
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cgroups: %w", err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
					return fmt.Errorf("cgroups: %s: %w", f, err)
				}
			}
		}
	}
	return nil
}

// cgroupDirs are the slot's cgroup root in every hierarchy.
func cgroupDirs(l layout) []string {
	hs, _ := os.ReadDir("/sys/fs/cgroup")
	var out []string
	for _, h := range hs {
		d := filepath.Join("/sys/fs/cgroup", h.Name(), l.cgroupRoot())
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// cgroupPIDs lists the processes in the slot's cgroups: the pods'.
func cgroupPIDs(l layout) []int {
	seen := map[int]bool{}
	var out []int
	for _, root := range cgroupDirs(l) {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// removeCgroups removes the slot's cgroups, children first. A cgroup
// whose last task has been killed but not yet reaped refuses rmdir with
// EBUSY for a moment (seen: "remove .../blkio/zdmlk0/kubepods/besteffort/
// pod...: device or resource busy" right after the pods were killed), so
// busy ones are tried again for up to 10 s.
func removeCgroups(l layout) error {
	var busy []error
	waitFor(10*time.Second, func() bool {
		busy = removeCgroupsOnce(l)
		return len(busy) == 0
	})
	return errors.Join(busy...)
}

// removeCgroupsOnce removes what it can of the slot's cgroups and returns
// why the rest remain.
func removeCgroupsOnce(l layout) []error {
	var errs []error
	for _, root := range cgroupDirs(l) {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("teardown: cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errs
}

package kubecluster

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
)

// teardown stops a cluster and removes everything it left on the machine,
// in an order that lets each step observe the previous one's result:
//  1. its processes (procs in reverse start order, by pid; for a dead
//     cluster's leftovers, every process whose arguments name its
//     directory), then containerd's shims and the pods' processes (found in
//     the slot's cgroups);
//  2. every mount under its directory (container root filesystems, pod
//     network namespaces, the kubelet's volume tmpfs), deepest first;
//  3. its cgroups, the node's network namespace (and with it the bridge,
//     the veths, kube-proxy's and CNI's iptables rules and the host's
//     routes), libcni's cache entries of its network;
//  4. its directory, once nothing is mounted under it.
func teardown(l layout, procs []*process, log *slog.Logger) error {
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if err := stopPID(p.pid, 10*time.Second, p.exited); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
		}
	}
	// What is left: shims (-address <dir>/...), anything started by a
	// dead owner, and the containers themselves.
	for round := 0; round < 5; round++ {
		left := append(pidsWithArg(l.Dir+"/"), cgroupPIDs(l)...)
		if len(left) == 0 {
			break
		}
		log.Debug("kubecluster: killing leftovers", "pids", left)
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		waitFor(5*time.Second, func() bool {
			for _, pid := range left {
				if procfs.Alive(pid) {
					return false
				}
			}
			return true
		})
	}
	if err := unmountUnder(l.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroups(l); err != nil {
		errs = append(errs, err)
	}
	if err := teardownNetwork(l); err != nil {
		errs = append(errs, err)
	}
	if cached, _ := filepath.Glob(fmt.Sprintf("/var/lib/cni/results/zdmlk%d-*", l.Slot)); len(cached) > 0 {
		for _, f := range cached {
			_ = os.Remove(f)
		}
	}
	if left := mountsUnder(l.Dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("teardown: still mounted, %s kept: %s", l.Dir, strings.Join(left, ", ")))
	} else if err := os.RemoveAll(l.Dir); err != nil {
		errs = append(errs, fmt.Errorf("teardown: %w", err))
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount below dir, repeating while mounts
// stacked on one another remain.
func unmountUnder(dir string) error {
	for round := 0; round < 10; round++ {
		mps := mountsUnder(dir)
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			_ = syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	}
	if left := mountsUnder(dir); len(left) > 0 {
		return fmt.Errorf("teardown: could not unmount %s", strings.Join(left, ", "))
	}
	return nil
}

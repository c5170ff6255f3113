package kubecluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
)

// kubeletSysctls are the machine-wide kernel settings the kubelet sets at
// start (vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1;
// with protectKernelDefaults it refuses to start instead). The values the
// machine had before the first cluster are saved and put back when the
// last cluster on the machine stops.
var kubeletSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops"}

var sysctlFile = filepath.Join(slotDir, "sysctl.json")

// saveSysctls records the machine's values unless a running cluster has
// already recorded them.
func saveSysctls() error {
	unlock, err := lockFile(filepath.Join(slotDir, "slots.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(sysctlFile); err == nil {
		return nil
	}
	saved := map[string]string{}
	for _, k := range kubeletSysctls {
		b, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			return fmt.Errorf("sysctl: %w", err)
		}
		saved[k] = strings.TrimSpace(string(b))
	}
	b, _ := json.Marshal(saved)
	return atomicfile.WriteFile(sysctlFile, b, 0o644)
}

// restoreSysctls puts the saved values back when no cluster holds a slot.
func restoreSysctls() error {
	unlock, err := lockFile(filepath.Join(slotDir, "slots.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	for slot := range Slots {
		if _, err := os.Stat(slotFile(slot)); err == nil {
			return nil // another cluster runs
		}
	}
	b, err := os.ReadFile(sysctlFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	saved := map[string]string{}
	if err := json.Unmarshal(b, &saved); err != nil {
		return fmt.Errorf("sysctl: %s: %w", sysctlFile, err)
	}
	var errs []error
	for k, v := range saved {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("sysctl: %w", err))
		}
	}
	if len(errs) == 0 {
		errs = append(errs, os.Remove(sysctlFile))
	}
	return errors.Join(errs...)
}

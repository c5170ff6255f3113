package kubecluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
	"github.com/zero-downtime-ml/zdml/internal/procfs"
)

// slotDir holds one claim file per running cluster on this machine.
const slotDir = "/run/zdml-kube"

// claim is a slot's claim file: the cluster that owns the slot and the
// process whose life is the cluster's (the test binary, or kube-apiserver
// of a cluster started by kube-up).
type claim struct {
	layout
	Owner int `json:"owner"`
}

func slotFile(slot int) string { return filepath.Join(slotDir, fmt.Sprintf("slot-%d.json", slot)) }

// claimSlot gives dir the first free slot. A slot whose owner is gone is
// a cluster that died without its teardown (a killed test binary): its
// leftovers are torn down first, then the slot is reused.
func claimSlot(dir string, owner int, log *slog.Logger) (layout, error) {
	if err := os.MkdirAll(slotDir, 0o755); err != nil {
		return layout{}, fmt.Errorf("slot: %w", err)
	}
	unlock, err := lockFile(filepath.Join(slotDir, "slots.lock"))
	if err != nil {
		return layout{}, err
	}
	defer unlock()
	for slot := range Slots {
		c, err := readClaim(slot)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return layout{}, err
		case procfs.Alive(c.Owner):
			continue
		default:
			log.Info("kubecluster: tearing down a dead cluster's leftovers", "slot", slot, "dir", c.Dir, "owner", c.Owner)
			if err := teardown(c.layout, nil, log); err != nil {
				return layout{}, fmt.Errorf("slot %d: leftovers of %s: %w", slot, c.Dir, err)
			}
		}
		l := layout{Dir: dir, Slot: slot}
		return l, writeClaim(claim{layout: l, Owner: owner})
	}
	return layout{}, fmt.Errorf("slot: all %d cluster slots are in use (%s)", Slots, slotDir)
}

// setOwner hands the slot to another process (kube-up's clusters outlive
// the command that started them).
func setOwner(l layout, owner int) error { return writeClaim(claim{layout: l, Owner: owner}) }

// releaseSlot frees the slot after teardown.
func releaseSlot(l layout) error {
	c, err := readClaim(l.Slot)
	if err != nil || c.Dir != l.Dir {
		return nil // not ours (any more)
	}
	if err := os.Remove(slotFile(l.Slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("slot: %w", err)
	}
	return nil
}

func readClaim(slot int) (claim, error) {
	var c claim
	b, err := os.ReadFile(slotFile(slot))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("slot %d: %s: %w", slot, slotFile(slot), err)
	}
	return c, nil
}

func writeClaim(c claim) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("slot: %w", err)
	}
	if err := atomicfile.WriteFile(slotFile(c.Slot), b, 0o644); err != nil {
		return fmt.Errorf("slot: %w", err)
	}
	return nil
}

// lockFile takes an exclusive flock on path; the returned func releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

package reconciler

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// TestRestartAdopts stops the reconciler and starts a new one on the same
// state: it adopts the running color and nginx (same pid, same instance
// id), deploys nothing, and clients never notice.
func TestRestartAdopts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.commit(desiredSpec{Version: "v1"}.yaml(), "v1")
	e.start()
	before := e.waitSynced("v1", time.Minute)
	loop := startClients(t, e.public, 2)
	e.stop()
	time.Sleep(300 * time.Millisecond) // serving with no reconciler at all
	e.start()
	after := e.waitSynced("v1", time.Minute)
	time.Sleep(5 * e.resync)
	loop.check(t)
	if colorPID(t, before, spec.Blue) != colorPID(t, after, spec.Blue) {
		t.Errorf("blue pid changed across the restart: %d -> %d", colorPID(t, before, spec.Blue), colorPID(t, after, spec.Blue))
	}
	if before.Colors[0].InstanceID == "" || before.Colors[0].InstanceID != after.Colors[0].InstanceID {
		t.Errorf("instance id %q -> %q, want the same, known one", before.Colors[0].InstanceID, after.Colors[0].InstanceID)
	}
	if before.Nginx.ID != after.Nginx.ID {
		t.Errorf("nginx %s -> %s, want it adopted", before.Nginx.ID, after.Nginx.ID)
	}
	if recs, _ := ReadHistory(e.stateDir, 0); len(recs) != 1 {
		t.Errorf("%d deploys, want 1: the restart deployed again", len(recs))
	}
}

// TestSecondReconcilerRefused starts a second reconciler on a state
// directory that one already holds: it is refused, naming the holder.
func TestSecondReconcilerRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.commit(desiredSpec{Version: "v1"}.yaml(), "v1")
	e.start()
	_, err := New(e.config())
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second New: %v, want a LockedError", err)
	}
	if locked.Holder.PID != os.Getpid() || locked.Holder.Command != "reconcile" {
		t.Errorf("holder %+v, want this process's reconcile", locked.Holder)
	}
	if !strings.Contains(err.Error(), "pid ") || !strings.Contains(err.Error(), "locked") {
		t.Errorf("message %q does not name the holder", err)
	}
	h, held, err := LockHolder(e.stateDir)
	if err != nil || !held || h.PID != os.Getpid() {
		t.Errorf("LockHolder = %+v %v %v", h, held, err)
	}
	e.stop()
	if _, held, _ := LockHolder(e.stateDir); held {
		t.Error("lock still held after Close")
	}
}

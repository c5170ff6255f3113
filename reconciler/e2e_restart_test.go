package reconciler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/docker"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestRestartAdopts stops the reconciler and starts a new one on the same
// state: it adopts the running color and nginx (same pid, same instance
// id), deploys nothing, and clients never notice.
func TestRestartAdopts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before, after := restartServing(t, e, func() {})
	if before.Colors[0].InstanceID == "" || before.Colors[0].InstanceID != after.Colors[0].InstanceID {
		t.Errorf("instance id %q -> %q, want the same, known one", before.Colors[0].InstanceID, after.Colors[0].InstanceID)
	}
	if before.Nginx.ID != after.Nginx.ID {
		t.Errorf("nginx %s -> %s, want it adopted", before.Nginx.ID, after.Nginx.ID)
	}
}

// restartServing serves v1 with clients chatting, stops the reconciler,
// runs between, starts a new one on the same state directory and waits
// until it is synced again. No request may fail, the running blue must be
// adopted (same pid) and nothing deployed again. It returns the status
// before and after the restart.
func restartServing(t *testing.T, e *env, between func()) (before, after StatusReport) {
	t.Helper()
	before = e.serveV1()
	loop := startClients(t, e.public, 2)
	e.stop()
	loop.waitOK(t, 20) // serving with no reconciler at all
	between()
	e.start()
	after = e.waitSynced("v1", time.Minute)
	e.waitPasses(5)
	loop.check(t)
	if colorPID(t, before, spec.Blue) != colorPID(t, after, spec.Blue) {
		t.Errorf("blue pid %d -> %d; want the running blue adopted", colorPID(t, before, spec.Blue), colorPID(t, after, spec.Blue))
	}
	if recs, _ := ReadHistory(e.stateDir, 0); len(recs) != 1 {
		t.Errorf("%d deploys in history; want 1: the restart deployed again", len(recs))
	}
	return before, after
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

// TestRestartWithoutState: state.json is lost (deleted) while blue serves
// and the reconciler is restarted. What runs is the truth: the new one
// adopts blue (same pid), records it again, deploys nothing, and neither
// starts a second blue nor fails on blue's port.
func TestRestartWithoutState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	restartServing(t, e, func() {
		if err := os.Remove(filepath.Join(e.stateDir, StateFile)); err != nil {
			t.Fatal(err)
		}
	})
	if n := len(e.strays()); n != 1 {
		t.Errorf("%d model servers run; want the one blue", n)
	}
	st, err := LoadState(e.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if cs := st.Colors[spec.Blue]; st.ActiveColor != spec.Blue || cs == nil || cs.Role != RoleActive || cs.Version != "v1" ||
		runtimeOf(cs) != spec.RuntimeProcess || st.Deployed == nil || st.Deployed.Version != "v1" {
		t.Errorf("state.json written again: active %s, blue %+v, deployed %+v; want blue active with v1 on process", st.ActiveColor, cs, st.Deployed)
	}
}

// TestRecoverUnreachableRuntime: Recover asks every runtime, but one that
// cannot be reached (here Docker at a socket that does not exist) is
// skipped, unless state.json says a color runs there: then it is an error,
// not a color silently forgotten.
func TestRecoverUnreachableRuntime(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	e := newEnv(t)
	e.reg = prometheus.NewRegistry()
	ctx := context.Background()
	r, err := New(e.config())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Recover(ctx); err != nil {
		t.Errorf("Recover with Docker unreachable and not in state.json: %v; want nil", err)
	}
	r.state.Color(spec.Blue).Runtime = spec.RuntimeDocker
	r.state.Color(spec.Blue).Role = RoleActive
	if err := r.Recover(ctx); err == nil || !errors.Is(err, docker.ErrUnavailable) {
		t.Errorf("Recover with blue on an unreachable Docker: %v; want docker.ErrUnavailable", err)
	}
	r.Close()
}

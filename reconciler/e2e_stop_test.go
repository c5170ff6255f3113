package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/spec"
)

// stopWithStream deploys v1 on demo-v1 with a long drainTimeout (so blue
// finishes what it holds for up to 70 s after SIGTERM), then v2 with a
// drainTimeout of 1 s while a long stream runs on blue: the drain gives
// up, and the stop step starts with the stream still in flight on blue.
// at runs when the stop step starts. It returns the stream's result.
func stopWithStream(t *testing.T, e *env, at func()) <-chan streamResult {
	t.Helper()
	e.commit(desiredSpec{Version: "v1", Path: "demo-v1.gguf", DrainTimeout: "60s"}.yaml(), "v1")
	e.start()
	e.waitSynced("v1", time.Minute)
	stream := make(chan streamResult, 1)
	holdSwapUntilInFlight(e, func() { stream <- streamChat(e.public, 480) })
	sink := e.r.events.sink
	var once sync.Once
	e.r.events.setSink(func(ev Event) {
		sink(ev)
		if ev.Step == StepStop && ev.Phase == PhaseStart && ev.Version == "v1" {
			t.Logf("stop of %s %s starts: %s", ev.Color, ev.Version, ev.DeployID)
			once.Do(at)
		}
	})
	e.commit(desiredSpec{Version: "v2", Path: "demo-v2.gguf", DrainTimeout: "1s"}.yaml(), "v2")
	return stream
}

// TestShutdownDuringStop: the reconciler shuts down (a daemon's SIGTERM)
// while the stop step waits for the old color. The old color is not
// killed: it finishes its stream, which ends with [DONE], and exits by
// itself. The next reconciler finishes the deploy (it had passed verify:
// it is not rolled back).
func TestShutdownDuringStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stopped := make(chan struct{})
	stream := stopWithStream(t, e, func() {
		go func() { e.stop(); close(stopped) }()
	})
	<-stopped
	s := <-stream
	t.Logf("stream: %+v", s)
	if s.err != nil || !s.done || s.version != "v1" {
		t.Errorf("stream %+v, want it to end with [DONE] from v1: the old color was cut", s)
	}
	st, err := LoadState(e.stateDir)
	if err != nil || st.InProgress == nil || st.InProgress.Step != StepStop || !st.InProgress.Verified {
		t.Fatalf("state.json after the shutdown: %+v %v; want the deploy at stop, verified", st.InProgress, err)
	}
	e.start()
	e.waitSynced("v2", time.Minute)
	recs, _ := ReadHistory(e.stateDir, 0)
	last := recs[len(recs)-1]
	if last.ToVersion != "v2" || last.Outcome != OutcomeDegraded || last.Degraded[0].Reason != DegradedDrainTimedOut {
		t.Errorf("history %s %s %+v; want v2 degraded by its drain timeout, not rolled back", last.ToVersion, last.Outcome, last.Degraded)
	}
	if n := len(e.strays()); n != 1 {
		t.Errorf("%d model servers run, want green alone", n)
	}
}

// TestRollbackDuringStop: zdml rollback arrives while the stop step waits
// for the old color. The deploy had passed verify, so the request does not
// cut the stop short (the old color's stream ends with [DONE]); the deploy
// finishes, then the rollback deploys v1 back, and the answer says both.
func TestRollbackDuringStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type answer struct {
		msg string
		err error
	}
	answered := make(chan answer, 1)
	stream := stopWithStream(t, e, func() {
		go func() {
			msg, err := e.r.Do(context.Background(), Request{Action: ActionRollback})
			answered <- answer{msg, err}
		}()
	})
	s := <-stream
	a := <-answered
	t.Logf("stream: %+v; rollback: %q %v", s, a.msg, a.err)
	if s.err != nil || !s.done || s.version != "v1" {
		t.Errorf("stream %+v, want it to end with [DONE] from v1", s)
	}
	if a.err != nil || !strings.Contains(a.msg, "had passed verify and finished (degraded)") ||
		!strings.Contains(a.msg, "rollback") || !strings.Contains(a.msg, "succeeded: v2 -> v1") {
		t.Errorf("rollback answered %q %v; want the deploy finished, then rolled back to v1", a.msg, a.err)
	}
	var st StatusReport
	e.waitFor("v1 serving, v2 quarantined", time.Minute, func() bool {
		st = e.r.Status()
		return st.ActiveVersion == "v1" && st.Step == "" && st.Nginx.Active == st.ActiveColor
	})
	if st.SyncState != SyncQuarantined || st.Quarantine == nil {
		t.Errorf("status %s, quarantine %+v; want v2 quarantined after zdml rollback: the daemon would deploy it again", st.SyncState, st.Quarantine)
	}
	if color, version := publicVersion(t, e.public); version != "v1" {
		t.Errorf("public route answers %s %s, want v1", color, version)
	}
}

// TestRollbackNowTellsTheTruth: a reconciler was killed after the swap,
// and the old color died too. zdml rollback (no daemon) must not answer
// "rolled back": nginx cannot be restored to a color that is gone, the
// new color is left serving, and the answer is an error saying so.
func TestRollbackNowTellsTheTruth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	e.r.events.setSink(func(ev Event) {
		if ev.Step == StepDrain && ev.Phase == PhaseStart {
			e.cancel() // the daemon dies mid-deploy, after the swap
		}
	})
	e.commit(desiredSpec{Version: "v2"}.yaml(), "v2")
	select {
	case <-e.done:
	case <-time.After(time.Minute):
		t.Fatal("the reconciler did not stop")
	}
	e.r.Close()
	e.cancel = nil
	if st, err := LoadState(e.stateDir); err != nil || st.InProgress == nil || !st.InProgress.Swapped {
		t.Fatalf("state.json: %+v %v; want a swapped deploy in progress", st, err)
	}
	killColor(t, e, spec.Blue)
	waitGone(t, e, spec.Blue)
	e.reg = prometheus.NewRegistry()
	r, err := New(e.config())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	msg, err := r.Act(context.Background(), Request{Action: ActionRollback})
	t.Logf("rollback: %q %v", msg, err)
	if err == nil || !strings.Contains(err.Error(), "could not be rolled back") || !strings.Contains(err.Error(), "gone") {
		t.Errorf("rollback answered %q %v; want an error: the old color is gone", msg, err)
	}
	if l := r.state.LastDeploy; l == nil || l.Outcome != OutcomeFailed {
		t.Errorf("last deploy %+v, want failed", l)
	}
	if color, version := publicVersion(t, e.public); color != "green" || version != "v2" {
		t.Errorf("public route answers %s %s, want green v2 left serving", color, version)
	}
}

// waitGone waits until a color's process has exited.
func waitGone(t *testing.T, e *env, c spec.Color) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.stateDir, "colors", string(c), "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid := atoi(t, strings.TrimSpace(string(b)))
	e.waitFor(string(c)+" exited", 10*time.Second, func() bool { return !procfs.Alive(pid) })
}

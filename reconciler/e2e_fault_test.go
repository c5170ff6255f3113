package reconciler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/spec"
)

// badTestRunner is the real local nginx, except that when armed it
// appends an unknown directive to the candidate config before `nginx -t`
// checks it: real nginx then rejects a really invalid file. With
// workersFail, its worker listing fails as a `docker top` that cannot be
// parsed does.
type badTestRunner struct {
	nginx.Runner
	armed       atomic.Bool
	workersFail atomic.Bool
}

func (b *badTestRunner) Workers(ctx context.Context) ([]nginx.Worker, error) {
	if b.workersFail.Load() {
		return nil, errors.New("nginx workers: ps output has no PID column")
	}
	return b.Runner.Workers(ctx)
}

func (b *badTestRunner) Test(ctx context.Context, file string) error {
	if b.armed.Load() {
		f, err := os.OpenFile(filepath.Join(b.Dir(), file), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, _ = f.WriteString("\nzdml_no_such_directive on;\n")
		f.Close()
	}
	return b.Runner.Test(ctx, file)
}

// fault is one bad desired state or failure injected during a deploy.
type fault struct {
	name     string
	desired  string                     // the desired.yaml committed as v2
	arm      func(t *testing.T, e *env) // injects the failure before the commit
	step     string                     // the step that must fail
	outcome  string
	reason   string // substring of the recorded reason
	recommit bool   // commit the same spec again: it must stay quarantined
}

func faults() []fault {
	return []fault{
		{name: "invalid YAML", desired: "apiVersion: zdml/v1\nkind: [ModelDeployment\n", step: StepPreflight,
			outcome: OutcomeFailed, reason: "invalid YAML", recommit: true},
		{name: "unknown strategy", desired: desiredSpec{Version: "v2", Strategy: "rolling"}.yaml(), step: StepPreflight,
			outcome: OutcomeFailed, reason: `unknown strategy "rolling"`},
		{name: "missing model file", desired: desiredSpec{Version: "v2", Path: "no-such-model.gguf"}.yaml(), step: StepPreflight,
			outcome: OutcomeFailed, reason: "file does not exist"},
		{name: "sha256 mismatch", desired: desiredSpec{Version: "v2", SHA256: strings.Repeat("ab", 32)}.yaml(), step: StepPreflight,
			outcome: OutcomeFailed, reason: "sha256"},
		{name: "truncated GGUF", desired: desiredSpec{Version: "v2", Path: "broken-truncated.gguf"}.yaml(), step: StepPreflight,
			outcome: OutcomeFailed, reason: "truncated"},
		{name: "degenerate model", desired: desiredSpec{Version: "v2", Path: "broken-degenerate.gguf"}.yaml(), step: StepReady,
			outcome: OutcomeRolledBack, reason: "cannot generate", recommit: true},
		{name: "nginx -t fails", desired: desiredSpec{Version: "v2"}.yaml(), step: StepSwap, outcome: OutcomeRolledBack,
			reason: "zdml_no_such_directive", arm: func(t *testing.T, e *env) { e.runner.(*badTestRunner).armed.Store(true) }},
		{name: "standby crashes during warm-up", desired: desiredSpec{Version: "v2"}.yaml(), step: StepWarmup,
			outcome: OutcomeRolledBack, reason: "prompt 1", arm: func(t *testing.T, e *env) {
				e.r.events.setSink(func(ev Event) {
					if ev.Step == StepWarmup && ev.Phase == PhaseStart {
						killColor(t, e, spec.Green)
					}
				})
			}},
		{name: "standby killed while loading", desired: desiredSpec{Version: "v2"}.yaml(), step: StepReady,
			outcome: OutcomeRolledBack, reason: "standby green: exited before it was ready: signal: killed; log tail: {", arm: func(t *testing.T, e *env) {
				e.r.events.setSink(func(ev Event) {
					if ev.Step == StepReady && ev.Phase == PhaseStart {
						waitLog(t, e, spec.Green)
						killColor(t, e, spec.Green)
					}
				})
			}},
		{name: "warm-up over budget", desired: desiredSpec{Version: "v2", MaxLatency: "10ms", MaxTokens: 512}.yaml(),
			step: StepWarmup, outcome: OutcomeRolledBack, reason: "maxLatency 10ms"},
	}
}

// waitLog waits until a color's log has something to show.
func waitLog(t *testing.T, e *env, c spec.Color) {
	for i := 0; i < 500; i++ {
		if fi, err := os.Stat(filepath.Join(e.stateDir, "colors", string(c), "modelserver.log")); err == nil && fi.Size() > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s wrote no log", c)
}

// killColor SIGKILLs a color's model server.
func killColor(t *testing.T, e *env, c spec.Color) {
	b, err := os.ReadFile(filepath.Join(e.stateDir, "colors", string(c), "pid"))
	if err != nil {
		t.Errorf("kill %s: %v", c, err)
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Errorf("kill %s pid %d: %v", c, pid, err)
	}
}

// TestFaults deploys v1, then commits a bad v2 (or injects a failure
// during its deploy) while clients chat through nginx. Afterwards v1 still
// serves, status and history say what failed and why, the bad spec is
// quarantined (not retried, even when committed again), and no client
// request failed.
func TestFaults(t *testing.T) {
	t.Parallel()
	for _, f := range faults() {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.runner = &badTestRunner{Runner: e.runner}
			e.serveV1()
			if f.arm != nil {
				f.arm(t, e)
			}
			loop := startClients(t, e.public, 2)
			loop.waitOK(t, 10)
			bad := e.commit(f.desired, "bad v2")
			recs := e.waitDeploys(2, 2*time.Minute)
			if f.recommit {
				e.git("commit", "-q", "--allow-empty", "-m", "same spec again")
			}
			e.waitPasses(10) // passes that would retry it, were there a retry
			loop.check(t)
			last := recs[len(recs)-1]
			if last.Outcome != f.outcome || last.FailedStep != f.step || !strings.Contains(last.Reason, f.reason) {
				t.Errorf("history: outcome %s at %s (%s), want %s at %s containing %q", last.Outcome, last.FailedStep, last.Reason,
					f.outcome, f.step, f.reason)
			}
			if last.Commit != bad {
				t.Errorf("history commit %s, want %s", last.Commit, bad)
			}
			if all, _ := ReadHistory(e.stateDir, 0); len(all) != 2 {
				t.Errorf("%d deploys in history, want 2: the bad spec was retried", len(all))
			}
			st := e.r.Status()
			if st.SyncState != SyncQuarantined || st.Quarantine == nil || !strings.Contains(st.Quarantine.Reason, f.reason) {
				t.Errorf("status: sync %s quarantine %+v, want quarantined for %q", st.SyncState, st.Quarantine, f.reason)
			}
			if st.LastDeploy == nil || st.LastDeploy.Outcome != f.outcome {
				t.Errorf("status last deploy %+v, want outcome %s", st.LastDeploy, f.outcome)
			}
			if color, version := publicVersion(t, e.public); color != "blue" || version != "v1" {
				t.Errorf("public route answers %s %s, want blue v1", color, version)
			}
			if st.ActiveColor != spec.Blue || st.ActiveVersion != "v1" {
				t.Errorf("status active %s %s, want blue v1", st.ActiveColor, st.ActiveVersion)
			}
			if n := len(e.strays()); n != 1 {
				t.Errorf("%d model servers run, want 1: the failed standby was not stopped", n)
			}
		})
	}
}

// afterSwapFault is a failure injected once nginx routes to the new color.
type afterSwapFault struct {
	name    string
	arm     func(t *testing.T, e *env)
	outcome string
	serves  string // the version the public route answers afterwards
	step    string // the step that failed (rolled back) or degraded the deploy
	reason  string
}

func afterSwapFaults() []afterSwapFault {
	return []afterSwapFault{
		{name: "new color hangs at verify", outcome: OutcomeRolledBack, serves: "v1", step: StepVerify, reason: "verify route to green v2",
			arm: func(t *testing.T, e *env) {
				// SIGSTOP: the new color takes connections and never
				// answers, so verify times out; SIGCONT once the rollback
				// has begun, so what it held finishes and it can stop.
				e.r.events.setSink(func(ev Event) {
					switch {
					case ev.Step == StepVerify && ev.Phase == PhaseStart:
						signalColor(t, e, spec.Green, syscall.SIGSTOP)
					case ev.Step == StepRollback && ev.Phase == PhaseStart:
						signalColor(t, e, spec.Green, syscall.SIGCONT)
					}
				})
			}},
		{name: "old color's stop fails once", outcome: OutcomeSucceeded, serves: "v2",
			arm: func(t *testing.T, e *env) {
				var saved []byte
				e.r.events.setSink(func(ev Event) {
					switch {
					case ev.Step == StepStop && ev.Phase == PhaseStart:
						saved = corruptRecord(t, e, spec.Blue)
					case ev.Step == StepStop && ev.Phase == PhaseInfo && strings.Contains(ev.Message, "stop attempt 1 failed"):
						restoreRecord(t, e, spec.Blue, saved)
					}
				})
			}},
		{name: "old color's stop keeps failing", outcome: OutcomeDegraded, serves: "v2", step: StepStop, reason: "could not be stopped (3 attempts)",
			arm: func(t *testing.T, e *env) {
				e.r.events.setSink(func(ev Event) {
					if ev.Step == StepStop && ev.Phase == PhaseStart {
						corruptRecord(t, e, spec.Blue)
					}
				})
			}},
	}
}

// TestFaultsAfterSwap injects failures after nginx routes to v2, while
// clients chat: a new color that hangs at verify is rolled back (nginx is
// restored to v1, which is never stopped before verify); a stop of the old
// color that fails after verify is retried, and if it keeps failing the
// deploy is degraded, never rolled back onto the old color. No client
// request fails, and history says rolled_back only when v1 serves again.
func TestFaultsAfterSwap(t *testing.T) {
	t.Parallel()
	for _, f := range afterSwapFaults() {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.serveV1()
			f.arm(t, e)
			loop := startClients(t, e.public, 2)
			e.commit(desiredSpec{Version: "v2"}.yaml(), "v2")
			recs := e.waitDeploys(2, 2*time.Minute)
			loop.check(t)
			last := recs[len(recs)-1]
			t.Logf("%s: %s", last.Outcome, last.Reason)
			if last.Outcome != f.outcome || !strings.Contains(last.Reason, f.reason) {
				t.Errorf("history: %s (%s), want %s containing %q", last.Outcome, last.Reason, f.outcome, f.reason)
			}
			if f.outcome == OutcomeRolledBack && last.FailedStep != f.step {
				t.Errorf("failed at %s, want %s", last.FailedStep, f.step)
			}
			if f.outcome == OutcomeDegraded && (len(last.Degraded) != 1 || last.Degraded[0].Reason != DegradedStopFailed) {
				t.Errorf("degraded %+v, want StopFailed", last.Degraded)
			}
			if _, version := publicVersion(t, e.public); version != f.serves {
				t.Errorf("public route answers %s, want %s", version, f.serves)
			}
			if st := e.r.Status(); st.ActiveVersion != f.serves || st.LastDeploy.Outcome != f.outcome {
				t.Errorf("status: active %s, last deploy %s; want %s, %s", st.ActiveVersion, st.LastDeploy.Outcome, f.serves, f.outcome)
			}
		})
	}
}

// signalColor sends sig to a color's model server.
func signalColor(t *testing.T, e *env, c spec.Color, sig syscall.Signal) {
	b, err := os.ReadFile(filepath.Join(e.stateDir, "colors", string(c), "pid"))
	if err != nil {
		t.Errorf("signal %s: %v", c, err)
		return
	}
	if err := syscall.Kill(atoi(t, strings.TrimSpace(string(b))), sig); err != nil {
		t.Errorf("signal %s: %v", c, err)
	}
}

// corruptRecord overwrites a color's instance.json so that the driver
// cannot read it (and so cannot stop the color), returning what it held.
func corruptRecord(t *testing.T, e *env, c spec.Color) []byte {
	path := filepath.Join(e.stateDir, "colors", string(c), "instance.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("corrupt %s: %v", path, err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Errorf("corrupt %s: %v", path, err)
	}
	return b
}

func restoreRecord(t *testing.T, e *env, c spec.Color, b []byte) {
	if err := os.WriteFile(filepath.Join(e.stateDir, "colors", string(c), "instance.json"), b, 0o644); err != nil {
		t.Errorf("restore %s's record: %v", c, err)
	}
}

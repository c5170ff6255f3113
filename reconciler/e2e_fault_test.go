package reconciler

import (
	"context"
	"net"
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
// checks it: real nginx then rejects a really invalid file.
type badTestRunner struct {
	nginx.Runner
	armed atomic.Bool
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
		{name: "standby port in use", desired: desiredSpec{Version: "v2"}.yaml(), step: StepPreflight, outcome: OutcomeFailed,
			reason: "already in use", arm: func(t *testing.T, e *env) {
				ln, err := net.Listen("tcp", e.colors[spec.Green])
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
			}},
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
			time.Sleep(200 * time.Millisecond)
			bad := e.commit(f.desired, "bad v2")
			recs := e.waitDeploys(2, 2*time.Minute)
			if f.recommit {
				e.git("commit", "-q", "--allow-empty", "-m", "same spec again")
			}
			time.Sleep(10 * e.resync) // long enough for a retry, were there one
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

package reconciler

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// TestTransientRetried: another process holds the standby's port when v2
// is committed. That is the environment, not the spec: v2 is not
// quarantined but retried with a growing backoff, status says retrying
// (sync state, the retry with its next attempt, the Progressing
// condition, the metrics), v1 serves meanwhile, and once the port is free
// v2 is deployed by itself, with no zdml deploy.
func TestTransientRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	ln, err := net.Listen("tcp", e.colors[spec.Green])
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	loop := startClients(t, e.public, 2)
	e.commit(desiredSpec{Version: "v2"}.yaml(), "v2")
	first := waitRetry(e, 1)
	if first.Kind != TransientPortInUse || first.FailedStep != StepPreflight || !strings.Contains(first.Reason, "already in use") {
		t.Errorf("retry %+v, want port_in_use at preflight", first)
	}
	if wait := first.NextAttemptAt.Sub(first.Since); wait < 4*time.Second || wait > 6*time.Second {
		t.Errorf("first retry in %s, want 5s ± 10%%", wait)
	}
	st := e.r.Status()
	if st.Quarantine != nil || st.ActiveVersion != "v1" {
		t.Errorf("status: quarantine %+v, active %s; want no quarantine, v1 serving", st.Quarantine, st.ActiveVersion)
	}
	if c, _ := condition(st, CondProgressing); c.Status != "True" || c.Reason != "Retrying" || !strings.Contains(c.Message, "next attempt at") {
		t.Errorf("Progressing %+v, want True Retrying with the next attempt", c)
	}
	if got := metricValue(t, e.reg, "zdml_reconciler_sync_state", "state", SyncRetrying); got != 1 {
		t.Errorf("zdml_reconciler_sync_state{state=retrying} = %v, want 1", got)
	}
	if got := metricValue(t, e.reg, "zdml_reconciler_retry_next_attempt_timestamp_seconds"); got != float64(first.NextAttemptAt.Unix()) {
		t.Errorf("next attempt metric %v, want %d", got, first.NextAttemptAt.Unix())
	}
	second := waitRetry(e, 2) // the port is still held: tried again, and failed again
	if wait := second.NextAttemptAt.Sub(time.Now()); wait < 7*time.Second || wait > 11*time.Second {
		t.Errorf("second retry in %s, want about 10s (doubled)", wait)
	}
	if got := metricValue(t, e.reg, "zdml_reconciler_deploy_retries_total", "kind", TransientPortInUse); got != 2 {
		t.Errorf("zdml_reconciler_deploy_retries_total{kind=port_in_use} = %v, want 2", got)
	}
	ln.Close()
	after := e.waitSynced("v2", time.Minute)
	loop.check(t)
	if after.Retry != nil || after.LastDeploy.Outcome != OutcomeSucceeded {
		t.Errorf("after the port was freed: retry %+v, last deploy %+v", after.Retry, after.LastDeploy)
	}
	recs, _ := ReadHistory(e.stateDir, 0)
	if len(recs) != 4 || recs[1].Retry == nil || recs[1].Outcome != OutcomeFailed || recs[3].Outcome != OutcomeSucceeded {
		t.Errorf("history: %d records; want v1, two failed attempts with their retry, then v2", len(recs))
	}
}

// TestStateUnwritable: state.json cannot be written (a directory stands
// where it must be renamed to, which stops root too) just as the swap
// starts. The swap records before it acts, so it stops before nginx is
// touched: v1 keeps serving, no request fails, nginx never reloads. The
// failure is the environment's: retried, not quarantined, and v2 deploys
// by itself once state.json can be written again.
func TestStateUnwritable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := e.serveV1()
	stateFile := filepath.Join(e.stateDir, StateFile)
	e.r.events.setSink(func(ev Event) {
		if ev.Step == StepSwap && ev.Phase == PhaseStart {
			if err := os.Remove(stateFile); err != nil {
				t.Error(err)
			}
			if err := os.Mkdir(stateFile, 0o755); err != nil {
				t.Error(err)
			}
		}
	})
	loop := startClients(t, e.public, 2)
	e.commit(desiredSpec{Version: "v2"}.yaml(), "v2")
	rs := waitRetry(e, 1)
	st := e.r.Status()
	if rs.Kind != TransientState || rs.FailedStep != StepSwap || !strings.Contains(rs.Reason, "record state") {
		t.Errorf("retry %+v, want state_unwritable at swap", rs)
	}
	if st.Nginx.Hash != before.Nginx.Hash || st.Nginx.Active != spec.Blue {
		t.Errorf("nginx serves %s routing to %s, want %s to blue: nothing may act once the record failed",
			st.Nginx.Hash, st.Nginx.Active, before.Nginx.Hash)
	}
	if color, version := publicVersion(t, e.public); color != "blue" || version != "v1" {
		t.Errorf("public route answers %s %s, want blue v1", color, version)
	}
	if st.Quarantine != nil {
		t.Errorf("quarantined %+v; a state directory that cannot be written is not the spec's fault", st.Quarantine)
	}
	e.r.events.setSink(nil)
	if err := os.Remove(stateFile); err != nil {
		t.Fatal(err)
	}
	e.waitSynced("v2", time.Minute)
	loop.check(t)
	saved, err := LoadState(e.stateDir)
	if err != nil || saved.Deployed == nil || saved.Deployed.Version != "v2" {
		t.Errorf("state.json after: %+v %v; want v2 deployed", saved, err)
	}
}

// waitRetry waits until status shows the desired state retrying after its
// n-th failed attempt, and returns the retry.
func waitRetry(e *env, n int) RetryState {
	e.t.Helper()
	var rs RetryState
	e.waitFor("retry after attempt "+itoa(n), time.Minute, func() bool {
		st := e.r.Status()
		if st.SyncState != SyncRetrying || st.Retry == nil || st.Retry.Attempt < n {
			return false
		}
		rs = *st.Retry
		return true
	})
	return rs
}

package reconciler

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/driver/process"
	"github.com/zero-downtime-ml/zdml/spec"
)

// colorPID reads a running color's pid from the status report.
func colorPID(t *testing.T, st StatusReport, c spec.Color) int {
	t.Helper()
	for _, cr := range st.Colors {
		if cr.Color == c && cr.Running {
			pid, err := strconv.Atoi(cr.ID)
			if err != nil {
				t.Fatalf("%s pid %q: %v", c, cr.ID, err)
			}
			return pid
		}
	}
	t.Fatalf("%s is not running: %+v", c, st.Colors)
	return 0
}

// wantNice checks the nice value of every thread of pid.
func wantNice(t *testing.T, pid, want int) {
	t.Helper()
	nice, err := process.ThreadNice(pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(nice) < 2 {
		t.Errorf("pid %d has %d threads, want several", pid, len(nice))
	}
	for tid, n := range nice {
		if n != want {
			t.Errorf("pid %d thread %d: nice %d, want %d", pid, tid, n, want)
		}
	}
	if n, err := process.AutogroupNice(pid); err != nil || n != want {
		t.Errorf("pid %d autogroup nice %d (%v), want %d", pid, n, err, want)
	}
}

// TestPrewarmDeployFast is the seed's prewarm then deploy-fast, as
// strategy prewarm with autoPromote false: the commit only warms the
// standby (loading and warming at DefaultLowNice on every thread and its
// autogroup, where it stays while it waits); `deploy-fast` (POST /promote)
// swaps it in, raised to normal priority, and drains the old color; no
// request fails.
func TestPrewarmDeployFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.commit(desiredSpec{Version: "v1", Strategy: "prewarm", AutoPromote: "false"}.yaml(), "v1")
	e.start()
	e.waitSynced("v1", time.Minute) // a first deploy has nothing to wait for
	loop := startClients(t, e.public, 4)
	loading := make(chan func(), 1)
	e.r.events.setSink(func(ev Event) {
		if ev.Step == StepReady && ev.Phase == PhaseStart && ev.Version == "v2" {
			st := e.r.Status()
			for _, c := range st.Colors {
				if c.Color == spec.Green {
					pid, _ := strconv.Atoi(c.ID)
					nice, _ := process.ThreadNice(pid)
					group, _ := process.AutogroupNice(pid)
					loading <- func() {
						for tid, n := range nice {
							if n != process.DefaultLowNice {
								t.Errorf("loading standby thread %d: nice %d, want %d", tid, n, process.DefaultLowNice)
							}
						}
						if group != process.DefaultLowNice {
							t.Errorf("loading standby autogroup nice %d, want %d", group, process.DefaultLowNice)
						}
					}
				}
			}
		}
	})
	e.commit(desiredSpec{Version: "v2", Strategy: "prewarm", AutoPromote: "false"}.yaml(), "v2")
	var st StatusReport
	e.waitFor("a prewarmed standby", time.Minute, func() bool {
		st = e.r.Status()
		c, ok := condition(st, CondProgressing)
		return ok && c.Reason == "AwaitingPromotion"
	})
	e.waitPasses(5) // it must wait for the promotion
	if color, version := publicVersion(t, e.public); color != "blue" || version != "v1" {
		t.Fatalf("before deploy-fast the public route answers %s %s, want blue v1", color, version)
	}
	select {
	case check := <-loading:
		check()
	default:
		t.Error("the standby's priority was not observed while it loaded")
	}
	green := colorPID(t, st, spec.Green)
	wantNice(t, green, process.DefaultLowNice) // warmed and waiting at low priority: the swap raises it
	msg, err := e.r.Do(context.Background(), Request{Action: ActionPromote})
	if err != nil {
		t.Fatalf("promote: %v", err)
	}
	t.Log(msg)
	st = e.waitSynced("v2", time.Minute)
	loop.check(t)
	if st.ActiveColor != spec.Green || colorPID(t, st, spec.Green) != green {
		t.Errorf("after promote: active %s, want the prewarmed green (pid %d)", st.ActiveColor, green)
	}
	wantNice(t, green, 0)
	recs := e.waitDeploys(3, time.Second)
	pre, fast := recs[len(recs)-2], recs[len(recs)-1]
	if pre.Kind != KindPrewarm || pre.Outcome != OutcomeSucceeded || fast.Kind != KindPromote || fast.Outcome != OutcomeSucceeded {
		t.Fatalf("history: %s %s then %s %s, want prewarm and promote succeeded", pre.Kind, pre.Outcome, fast.Kind, fast.Outcome)
	}
	steps := map[string]time.Duration{}
	for _, s := range fast.Steps {
		steps[s.Name] = s.Duration
	}
	if _, ok := steps[StepWarmup]; ok {
		t.Error("deploy-fast ran the warm-up again")
	}
	t.Logf("deploy-fast: swap %s + drain %s = %s; whole promote %s", steps[StepSwap], steps[StepDrain],
		steps[StepSwap]+steps[StepDrain], fast.Duration)
}

// TestRollbackAfterAutoPromote deploys v2 with prewarm and autoPromote
// (warm, then swap at once), then rolls back: v1 serves again, v2 is
// quarantined so the daemon does not redeploy it, and no request fails.
func TestRollbackAfterAutoPromote(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	loop := startClients(t, e.public, 4)
	e.commit(desiredSpec{Version: "v2", Strategy: "prewarm", AutoPromote: "true"}.yaml(), "v2")
	e.waitSynced("v2", time.Minute)
	recs := e.waitDeploys(3, time.Second)
	if recs[1].Kind != KindPrewarm || recs[2].Kind != KindPromote || recs[1].ID != recs[2].ID {
		t.Errorf("history %s/%s then %s/%s, want one deploy id's prewarm then promote", recs[1].Kind, recs[1].ID, recs[2].Kind, recs[2].ID)
	}
	msg, err := e.r.Do(context.Background(), Request{Action: ActionRollback})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	t.Log(msg)
	e.waitPasses(10) // a daemon that redeployed v2 would do it now
	loop.check(t)
	st := e.r.Status()
	if st.ActiveVersion != "v1" || st.SyncState != SyncQuarantined || st.Quarantine == nil ||
		!strings.Contains(st.Quarantine.Reason, "rolled back") {
		t.Errorf("after rollback: %s %s, sync %s, quarantine %+v; want v1, quarantined", st.ActiveColor, st.ActiveVersion, st.SyncState, st.Quarantine)
	}
	if color, version := publicVersion(t, e.public); color != "blue" || version != "v1" {
		t.Errorf("public route answers %s %s, want blue v1", color, version)
	}
	recs, _ = ReadHistory(e.stateDir, 0)
	if last := recs[len(recs)-1]; len(recs) != 4 || last.Kind != KindRollback || last.Outcome != OutcomeSucceeded || last.ToVersion != "v1" {
		t.Errorf("history: %d records, last %+v; want a succeeded rollback to v1 and nothing after", len(recs), last)
	}
	// Committing v3 lifts nothing for v2 but deploys v3.
	e.commit(desiredSpec{Version: "v3"}.yaml(), "v3")
	e.waitSynced("v3", time.Minute)
}

func condition(st StatusReport, typ string) (Condition, bool) {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}

package reconciler

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

var allSteps = []string{StepPreflight, StepStart, StepReady, StepWarmup, StepSwap, StepDrain, StepVerify, StepStop, StepRecord}

// TestDeployUnderLoad commits a new desired.yaml while clients chat
// through nginx: the version switches, no request fails, and history and
// events record every step.
func TestDeployUnderLoad(t *testing.T) {
	color := func(c spec.Color, v string) string { return string(c) + " " + v }
	t.Parallel()
	e := newEnv(t)
	c1 := e.commit(desiredSpec{Version: "v1"}.yaml(), "v1")
	e.start()
	st := e.waitSynced("v1", time.Minute)
	if st.ActiveColor != spec.Blue || st.DeployedCommit != c1 {
		t.Fatalf("first deploy: active %s commit %s, want blue %s", st.ActiveColor, st.DeployedCommit, c1)
	}
	loop := startClients(t, e.public, 4)
	loop.waitOK(t, 20)
	c2 := e.commit(desiredSpec{Version: "v2"}.yaml(), "v2")
	st = e.waitSynced("v2", time.Minute)
	loop.waitOK(t, 20)
	loop.check(t)
	if st.ActiveColor != spec.Green || st.DeployedCommit != c2 || st.DesiredCommit != c2 {
		t.Errorf("after v2: active %s deployed %s desired %s, want green %s", st.ActiveColor, st.DeployedCommit, st.DesiredCommit, c2)
	}
	if color, version := publicVersion(t, e.public); color != "green" || version != "v2" {
		t.Errorf("public route answers %s %s, want green v2", color, version)
	}
	if loop.versions["v1"] == 0 || loop.versions["v2"] == 0 {
		t.Errorf("clients saw versions %v, want both v1 and v2", loop.versions)
	}
	recs := e.waitDeploys(2, time.Second)
	last := recs[len(recs)-1]
	if last.Outcome != OutcomeSucceeded || last.FromVersion != "v1" || last.ToVersion != "v2" || last.Commit != c2 {
		t.Errorf("history: %+v", last)
	}
	var names []string
	for _, s := range last.Steps {
		names = append(names, s.Name)
		if s.Outcome != "ok" {
			t.Errorf("step %s: %s %s", s.Name, s.Outcome, s.Message)
		}
		// The standby warms up at low priority; the swap raises it.
		if s.Name == StepWarmup && !strings.HasPrefix(s.Message, "at low priority") {
			t.Errorf("warmup: %q, want it to start at low priority", s.Message)
		}
		if s.Name == StepSwap && !strings.Contains(s.Message, "priority normal") {
			t.Errorf("swap: %q, want the new color raised to priority normal", s.Message)
		}
	}
	if !slices.Equal(names, allSteps) {
		t.Errorf("steps %v, want %v", names, allSteps)
	}
	ended := map[string]bool{}
	for _, ev := range e.events() {
		if ev.DeployID == last.ID && ev.Phase == PhaseEnd {
			ended[ev.Step] = true
			want := color("green", "v2") // the new color, for the steps that act on it
			if ev.Step == StepDrain || ev.Step == StepStop {
				want = color("blue", "v1") // the old color, drained and stopped
			}
			if got := color(ev.Color, ev.Version); got != want {
				t.Errorf("events.jsonl: step %s names %s, want %s", ev.Step, got, want)
			}
		}
	}
	for _, s := range allSteps {
		if !ended[s] {
			t.Errorf("events.jsonl: no end event for step %s of %s", s, last.ID)
		}
	}
	if n := len(e.strays()); n != 1 {
		t.Errorf("%d model servers run after the deploy, want 1 (the old color stopped)", n)
	}
}

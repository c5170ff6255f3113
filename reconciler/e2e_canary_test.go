package reconciler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/spec"
)

// canarySpec is v2 as a canary on the tiny model with short steps and a
// one-second analysis, so that a test sees several windows per step.
func canarySpec(version, path, steps, metrics string) string {
	return desiredSpec{Version: version, Path: path, Strategy: "canary", Canary: "    steps:\n" + steps +
		"    analysis:\n      interval: 1s\n      minRequests: 3\n      failureLimit: 1\n      metrics:\n" + metrics}.yaml()
}

const (
	passingMetrics = "        - errorRate: {max: 0.01}\n        - latencyP95: {max: 10}\n" // the tiny model answers in ms: a ratio of such times is noise
	twoSteps       = "      - setWeight: 20\n      - pause: 3s\n      - setWeight: 60\n      - pause: 3s\n"
)

// canaryEvents returns deploy id's canary events in order.
func (e *env) canaryEvents(id string) []Event {
	var out []Event
	for _, ev := range e.events() {
		if ev.DeployID == id && ev.Step == StepCanary && ev.Phase == PhaseInfo {
			out = append(out, ev)
		}
	}
	return out
}

// waitCanaryWeight waits until status shows the canary at weight.
func (e *env) waitCanaryWeight(weight int) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("canary at %d%%", weight), 3*time.Minute, func() bool {
		c := e.r.Status().Canary
		return c != nil && c.Weight == weight
	})
}

// adminCanary asks nginx's admin listener for its split ("green 20", "none").
func (e *env) adminCanary() string {
	e.t.Helper()
	return testenv.GetText(e.t, "http://"+e.admin+"/zdml/canary")
}

// TestCanaryPromotedUnderLoad: v2 goes through every step under client
// load, each weight a verified reload, with analysis windows passing on
// live metrics; both versions answer during the canary, and it ends as a
// swap with 0 failed requests.
func TestCanaryPromotedUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	loop := startClients(t, e.public, 4)
	e.commit(canarySpec("v2", "", twoSteps, passingMetrics), "v2 canary")
	e.waitCanaryWeight(20)
	if got := e.adminCanary(); got != "green 20" {
		t.Errorf("nginx admin /zdml/canary = %q, want green 20", got)
	}
	st := e.waitSynced("v2", 2*time.Minute)
	loop.check(t)
	if st.ActiveColor != spec.Green || st.Canary != nil {
		t.Errorf("after the canary: active %s, canary %+v; want green and no canary", st.ActiveColor, st.Canary)
	}
	if got := e.adminCanary(); got != "none" {
		t.Errorf("nginx admin /zdml/canary = %q after promotion, want none", got)
	}
	if loop.versions["v1"] == 0 || loop.versions["v2"] == 0 {
		t.Errorf("clients saw versions %v, want both during the canary", loop.versions)
	}
	recs := e.waitDeploys(2, time.Second)
	last := recs[len(recs)-1]
	var steps []string
	for _, s := range last.Steps {
		steps = append(steps, s.Name)
	}
	want := []string{StepPreflight, StepStart, StepReady, StepWarmup, StepCanary, StepDrain, StepVerify, StepStop, StepRecord}
	if last.Outcome != OutcomeSucceeded || last.Strategy != spec.StrategyCanary || !slices.Equal(steps, want) {
		t.Errorf("history: %s %s steps %v, want succeeded canary %v", last.Outcome, last.Strategy, steps, want)
	}
	var weights []int
	passes := 0
	for _, ev := range e.canaryEvents(last.ID) {
		if ev.Analysis != nil {
			if ev.Analysis.Verdict == analysis.Pass {
				passes++
			}
			continue
		}
		if ev.Weight != nil && strings.HasPrefix(ev.Message, "setWeight") {
			weights = append(weights, *ev.Weight)
		}
	}
	if !slices.Equal(weights, []int{20, 60}) {
		t.Errorf("setWeight events %v, want [20 60]", weights)
	}
	if passes < 2 {
		t.Errorf("%d passing analysis windows, want one per pause at least", passes)
	}
}

// TestCanaryAbortedByAnalysis: a canary that really is slower (the demo
// model beside the tiny one) fails its latency windows and is aborted
// before the second weight: weight 0 at once, the canary stopped, its spec
// quarantined with the metric in the reason, and no request failed.
func TestCanaryAbortedByAnalysis(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	loop := startClients(t, e.public, 4)
	slow := "        - errorRate: {max: 0.01}\n        - latencyP95: {maxRatio: 1.5}\n"
	e.commit(canarySpec("v2-slow", "demo-v1.gguf", "      - setWeight: 30\n      - pause: 1m\n      - setWeight: 60\n", slow), "slow canary")
	recs := e.waitDeploys(2, 3*time.Minute)
	loop.check(t)
	last := recs[len(recs)-1]
	if last.Outcome != OutcomeRolledBack || last.FailedStep != StepCanary || !strings.Contains(last.Reason, "latencyP95") {
		t.Fatalf("history: %s at %s: %s; want rolled_back at canary naming latencyP95", last.Outcome, last.FailedStep, last.Reason)
	}
	st := e.r.Status()
	if st.ActiveColor != spec.Blue || st.ActiveVersion != "v1" || st.Canary != nil || st.Quarantine == nil {
		t.Errorf("after the abort: active %s %s, canary %+v, quarantine %+v; want blue v1, no canary, quarantined", st.ActiveColor, st.ActiveVersion, st.Canary, st.Quarantine)
	}
	if got := e.adminCanary(); got != "none" {
		t.Errorf("nginx admin /zdml/canary = %q after the abort, want none", got)
	}
	for _, ev := range e.canaryEvents(last.ID) {
		if ev.Weight != nil && *ev.Weight > 30 {
			t.Errorf("the weight reached %d%% before the abort: %s", *ev.Weight, ev.Message)
		}
	}
	if n := len(e.strays()); n != 1 {
		t.Errorf("%d model servers run after the abort, want 1 (the canary stopped)", n)
	}
}

// TestCanaryInconclusiveWithoutTraffic: with no traffic a timed pause never
// ends: the canary waits, inconclusive, instead of promoting on missing
// data; once traffic comes, a window passes and it goes on.
func TestCanaryInconclusiveWithoutTraffic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	e.commit(canarySpec("v2", "", "      - setWeight: 50\n      - pause: 1s\n", passingMetrics), "v2 canary")
	e.waitFor("an inconclusive canary", time.Minute, func() bool {
		c := e.r.Status().Canary
		return c != nil && c.Status == CanaryInconclusive
	})
	windows := e.r.Status().Canary.Windows
	e.waitFor("three more analysis windows", time.Minute, func() bool { // without traffic: it must not move
		c := e.r.Status().Canary
		return c != nil && c.Windows >= windows+3
	})
	st := e.r.Status()
	if c := st.Canary; c == nil || c.Status != CanaryInconclusive || c.Weight != 50 || c.Failures != 0 {
		t.Fatalf("canary without traffic: %+v; want inconclusive at 50%% with no failure", c)
	}
	if st.ActiveVersion != "v1" {
		t.Fatalf("serving %s without any passing window", st.ActiveVersion)
	}
	loop := startClients(t, e.public, 4)
	e.waitSynced("v2", time.Minute)
	loop.check(t)
}

// TestCanaryControls: pause: {} waits for a human; zdml pause and resume
// hold and release it, status shows the step, weight and metrics, and zdml
// promote skips the remaining steps.
func TestCanaryControls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	loop := startClients(t, e.public, 2)
	e.commit(canarySpec("v2", "", "      - setWeight: 10\n      - pause: {}\n      - setWeight: 50\n      - pause: 1h\n", passingMetrics), "v2 canary")
	e.waitFor("a paused canary", time.Minute, func() bool {
		c := e.r.Status().Canary
		return c != nil && c.Status == CanaryPaused && c.Windows > 0
	})
	c := e.r.Status().Canary
	if c.Step != 2 || c.Steps != 4 || c.Weight != 10 || len(c.Metrics) != 2 || c.Metrics[0].Metric != spec.MetricErrorRate {
		t.Errorf("status canary: %+v", c)
	}
	do := func(a string) string {
		t.Helper()
		msg, err := e.r.Do(context.Background(), Request{Action: a})
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		return msg
	}
	do(ActionResume) // past pause: {}
	e.waitFor("the pause 1h step at 50%", time.Minute, func() bool {
		c := e.r.Status().Canary
		return c != nil && c.Weight == 50 && c.Status == CanaryProgressing
	})
	do(ActionPause)
	if c := e.r.Status().Canary; c == nil || c.Status != CanaryPaused {
		t.Errorf("after zdml pause: %+v", c)
	}
	do(ActionResume)
	if msg := do(ActionPromote); !strings.Contains(msg, "promoted from 50%") {
		t.Errorf("promote: %q", msg)
	}
	e.waitSynced("v2", time.Minute)
	loop.check(t)
	if _, err := e.r.Do(context.Background(), Request{Action: ActionPause}); err == nil || !strings.Contains(err.Error(), "no canary") {
		t.Errorf("pause with no canary: %v", err)
	}
}

// TestCanaryAbort: zdml abort during a pause rolls the canary back and
// says so truthfully; the spec is quarantined.
func TestCanaryAbort(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	loop := startClients(t, e.public, 2)
	e.commit(canarySpec("v2", "", "      - setWeight: 50\n      - pause: 1h\n", passingMetrics), "v2 canary")
	e.waitCanaryWeight(50)
	msg, err := e.r.Do(context.Background(), Request{Action: ActionAbort})
	if err != nil || !strings.Contains(msg, "aborted and rolled back") {
		t.Fatalf("abort: %q, %v", msg, err)
	}
	st := e.r.Status()
	loop.check(t)
	if st.ActiveVersion != "v1" || st.Canary != nil || st.Quarantine == nil || !strings.Contains(st.Quarantine.Reason, "zdml abort") {
		t.Errorf("after abort: serving %s, canary %+v, quarantine %+v", st.ActiveVersion, st.Canary, st.Quarantine)
	}
}

// TestCanarySuperseded: a new commit during a canary rolls it back without
// quarantining it, and the new desired state deploys.
func TestCanarySuperseded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	e.commit(canarySpec("v2", "", "      - setWeight: 50\n      - pause: 1h\n", passingMetrics), "v2 canary")
	e.waitCanaryWeight(50)
	e.commit(desiredSpec{Version: "v3"}.yaml(), "v3")
	st := e.waitSynced("v3", time.Minute)
	if st.Quarantine != nil {
		t.Errorf("quarantine %+v: a superseded canary is not a failure", st.Quarantine)
	}
	recs := e.waitDeploys(3, time.Second)
	if r := recs[1]; r.ToVersion != "v2" || r.Outcome != OutcomeRolledBack || !strings.Contains(r.Reason, "superseded") {
		t.Errorf("the canary's record: %s %s: %s", r.ToVersion, r.Outcome, r.Reason)
	}
}

// TestMaintenanceMode: user routes answer 503 JSON with Retry-After while
// health routes stay up; off restores traffic to the same active color.
func TestMaintenanceMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	if _, err := e.r.Do(context.Background(), Request{Action: ActionMaintenanceOn, Message: `back at 5 "o'clock" $now`, RetryAfter: 90 * time.Second}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+e.public+"/chat", "application/json", strings.NewReader(`{"message":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Message, Type string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "90" ||
		body.Error.Type != "maintenance" || body.Error.Message != `back at 5 "o'clock" $now` {
		t.Errorf("chat in maintenance: %s Retry-After %q %+v", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	if color, version := publicVersion(t, e.public); color != "blue" || version != "v1" {
		t.Errorf("health in maintenance: %s %s, want blue v1", color, version)
	}
	if m := e.r.Status().Maintenance; m == nil || m.RetryAfter != 90*time.Second {
		t.Errorf("status maintenance: %+v", m)
	}
	e.waitPasses(3) // the resync loop must not heal it away
	if resp, err := http.Post("http://"+e.public+"/chat", "application/json", strings.NewReader(`{"message":"hi"}`)); err != nil || resp.StatusCode != 503 {
		t.Errorf("after resyncs: %v %v, want still 503", resp, err)
	} else {
		resp.Body.Close()
	}
	if _, err := e.r.Do(context.Background(), Request{Action: ActionMaintenanceOff}); err != nil {
		t.Fatal(err)
	}
	loop := startClients(t, e.public, 2)
	loop.waitOK(t, 20)
	loop.check(t)
	if e.r.Status().Maintenance != nil {
		t.Error("status still shows maintenance")
	}
}

package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/spec"
)

// TestKubeDeployUnderLoad: on runtime kubernetes, v1 then v2 are
// deployed while clients chat through the stable Service: no request
// fails, the Service's selector moves to green, every step is in history,
// and blue's Deployment is scaled to zero.
func TestKubeDeployUnderLoad(t *testing.T) {
	e := newKubeEnv(t)
	st := e.serveV1()
	if st.ActiveColor != spec.Blue {
		t.Fatalf("first deploy: active %s, want blue", st.ActiveColor)
	}
	loop := e.clients(2)
	loop.waitOK(t, 10)
	t0 := time.Now()
	e.commit(e.spec("v2", "tiny.gguf"), "v2")
	st = e.waitSynced("v2", 4*time.Minute)
	t.Logf("measured: commit of v2 -> synced on runtime kubernetes: %s", time.Since(t0).Round(time.Millisecond))
	loop.waitOK(t, 10)
	loop.check(t)
	if st.ActiveColor != spec.Green || st.Nginx.Router != "service chat" || st.Nginx.Active != spec.Green {
		t.Errorf("after v2: active %s, router %q routing to %s; want green behind service chat", st.ActiveColor, st.Nginx.Router, st.Nginx.Active)
	}
	if c, v := e.route(); c != spec.Green || v != "v2" {
		t.Errorf("stable service answers %s %s, want green v2", c, v)
	}
	if loop.versions["v1"] == 0 || loop.versions["v2"] == 0 {
		t.Errorf("clients saw versions %v, want both v1 and v2", loop.versions)
	}
	recs := e.waitDeploys(2, time.Second)
	last := recs[len(recs)-1]
	if last.Outcome != OutcomeSucceeded || last.FromVersion != "v1" || last.ToVersion != "v2" {
		t.Errorf("history: %+v", last)
	}
	var names []string
	for _, s := range last.Steps {
		names = append(names, s.Name)
		t.Logf("step %s: %s in %s: %s", s.Name, s.Outcome, s.Duration.Round(time.Millisecond), s.Message)
		if s.Outcome != "ok" {
			t.Errorf("step %s: %s %s", s.Name, s.Outcome, s.Message)
		}
	}
	if !slices.Equal(names, allSteps) {
		t.Errorf("steps %v, want %v", names, allSteps)
	}
	if blue := e.deployment(spec.Blue); ptr.Deref(blue.Spec.Replicas, 1) != 0 || len(e.pods(spec.Blue)) != 0 {
		t.Errorf("blue: %d replicas, %d pods after the deploy; want scaled to 0", ptr.Deref(blue.Spec.Replicas, 1), len(e.pods(spec.Blue)))
	}
	svc, err := e.c.Client.CoreV1().Services(e.ns).Get(context.Background(), "chat", metav1.GetOptions{})
	if err != nil || svc.Spec.Selector["zdml.dev/color"] != "green" {
		t.Errorf("stable service %v, %v; want it selecting green", svc.Spec.Selector, err)
	}
}

// TestKubeBadModelRolledBack: a model that loads but cannot generate
// (broken-degenerate.gguf) never gets traffic: the deploy fails at its
// gate, green is stopped (scaled to zero), the spec is quarantined, and
// blue v1 keeps serving every request.
func TestKubeBadModelRolledBack(t *testing.T) {
	e := newKubeEnv(t)
	e.serveV1()
	loop := e.clients(2)
	loop.waitOK(t, 10)
	e.commit(e.spec("v2", "broken-degenerate.gguf"), "broken v2")
	recs := e.waitDeploys(2, 4*time.Minute)
	loop.waitOK(t, 10)
	loop.check(t)
	last := recs[len(recs)-1]
	t.Logf("bad model: %s at %s: %s", last.Outcome, last.FailedStep, last.Reason)
	if last.Outcome != OutcomeRolledBack || (last.FailedStep != StepReady && last.FailedStep != StepWarmup) {
		t.Errorf("history: %s at %s (%s); want rolled back at ready or warmup", last.Outcome, last.FailedStep, last.Reason)
	}
	st := e.r.Status()
	if st.ActiveColor != spec.Blue || st.ActiveVersion != "v1" || st.Quarantine == nil {
		t.Errorf("status: active %s %s, quarantine %+v; want blue v1 with v2 quarantined", st.ActiveColor, st.ActiveVersion, st.Quarantine)
	}
	if c, v := e.route(); c != spec.Blue || v != "v1" {
		t.Errorf("stable service answers %s %s, want blue v1", c, v)
	}
	if green := e.deployment(spec.Green); ptr.Deref(green.Spec.Replicas, 1) != 0 || len(e.pods(spec.Green)) != 0 {
		t.Errorf("green: %d replicas, %d pods; want stopped", ptr.Deref(green.Spec.Replicas, 1), len(e.pods(spec.Green)))
	}
	if loop.versions["v2"] != 0 {
		t.Errorf("%d requests served by the bad v2", loop.versions["v2"])
	}
	// The evidence keeps the standby pod's log, read through the API
	// before it was stopped; nothing is missing (no nginx.conf to keep).
	ev, err := ReadEvidence(e.stateDir, last.ID)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(filepath.Join(ev.Dir, EvidenceLogFile))
	if !slices.Contains(ev.Index.Files, EvidenceLogFile) || len(log) == 0 || len(ev.Index.Missing) != 0 {
		t.Errorf("evidence: files %v, missing %v, %d bytes of standby log; want the pod's log and nothing missing",
			ev.Index.Files, ev.Index.Missing, len(log))
	}
}

// TestKubeRestartMidDeploy: the reconciler is stopped while v2 warms up
// (state.json says so, green's pod runs), and a new one resumes the
// deploy: green's pod is adopted, not restarted, and no request fails.
// Then state.json is lost: the next reconciler finds both the colors and
// the active one from the cluster's objects alone, and deploys nothing.
func TestKubeRestartMidDeploy(t *testing.T) {
	e := newKubeEnv(t)
	e.serveV1()
	warming := make(chan struct{}, 1)
	e.r.events.setSink(func(ev Event) {
		if ev.Step == StepWarmup && ev.Phase == PhaseStart {
			select {
			case warming <- struct{}{}:
			default:
			}
		}
	})
	loop := e.clients(2)
	loop.waitOK(t, 10)
	e.commit(e.spec("v2", "tiny.gguf"), "v2")
	select {
	case <-warming:
	case <-time.After(4 * time.Minute):
		t.Fatal("the v2 deploy never reached warm-up")
	}
	e.stop()
	standby := e.onlyPod(spec.Green)
	e.start()
	e.waitSynced("v2", 4*time.Minute)
	loop.waitOK(t, 10)
	if got := e.onlyPod(spec.Green); got != standby {
		t.Errorf("green pod %s -> %s; want the standby adopted", standby, got)
	}
	recs, _ := ReadHistory(e.stateDir, 0)
	if last := recs[len(recs)-1]; last.Outcome != OutcomeSucceeded || last.ToVersion != "v2" {
		t.Errorf("history: %+v; want the resumed deploy succeeded", last)
	}

	// state.json lost: a new reconciler reads desired.yaml, asks the
	// cluster, adopts green and deploys nothing.
	e.stop()
	if err := removeState(e.stateDir); err != nil {
		t.Fatal(err)
	}
	e.start()
	st := e.waitSynced("v2", 2*time.Minute)
	e.waitPasses(5)
	loop.check(t)
	if st.ActiveColor != spec.Green || e.onlyPod(spec.Green) != standby {
		t.Errorf("after state.json was lost: active %s, green pod %s; want green's pod %s adopted", st.ActiveColor, e.onlyPod(spec.Green), standby)
	}
	if after, _ := ReadHistory(e.stateDir, 0); len(after) != len(recs) {
		t.Errorf("%d deploys in history, want %d: the restart deployed again", len(after), len(recs))
	}
}

// TestKubePodDeletedHeals: the active color's pod deleted by hand is
// replaced by its Deployment, the reconciler sees the new instance, the
// stable Service routes to it again, and requests succeed again.
func TestKubePodDeletedHeals(t *testing.T) {
	e := newKubeEnv(t)
	before := e.serveV1()
	pod := e.onlyPod(spec.Blue)
	loop := e.clients(2)
	loop.waitOK(t, 10)
	deleted := time.Now()
	if err := e.c.Client.CoreV1().Pods(e.ns).Delete(context.Background(), pod, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var st StatusReport
	e.waitFor("a new blue instance serving v1", 4*time.Minute, func() bool {
		st = e.r.Status()
		c, v := e.routeNow()
		return st.SyncState == SyncSynced && st.ActiveColor == spec.Blue && c == spec.Blue && v == "v1" &&
			len(st.Colors) > 0 && st.Colors[0].InstanceID != "" && st.Colors[0].InstanceID != before.Colors[0].InstanceID
	})
	loop.stop()
	t.Logf("measured: active pod deleted -> served again by a new pod after %s; %d of %d requests failed meanwhile",
		time.Since(deleted).Round(time.Millisecond), loop.failed.Load(), loop.failed.Load()+loop.ok.Load())
	if got := e.onlyPod(spec.Blue); got == pod {
		t.Errorf("blue pod %s still the deleted one", got)
	}
	after := e.clients(2)
	after.waitOK(t, 10)
	after.check(t)
}

// routeNow is route without failing the test while nothing answers.
func (e *kubeEnv) routeNow() (spec.Color, string) {
	got, err := e.k.Router().Route(context.Background())
	if err != nil {
		return "", strings.TrimSpace(err.Error())
	}
	return got.Color, got.Version
}

// TestKubeQualityRegressedRollsBack: the quality gate reaches both colors
// through the API server's proxy (the reconciler's gate with the driver's
// transport): demo-v2-regressed, which passes ready and warm-up, fails on
// its perplexity against the active demo-v1, and is rolled back while v1
// serves every request.
func TestKubeQualityRegressedRollsBack(t *testing.T) {
	e := newKubeEnv(t)
	e.commit(e.spec("v1", "demo-v1.gguf"), "v1")
	e.start()
	e.waitSynced("v1", 4*time.Minute)
	loop := e.clients(2)
	loop.waitOK(t, 10)
	q := "  quality:\n    prompts:\n      - {prompt: \"Say hello\"}\n"
	e.commit(desiredSpec{Version: "v2-regressed", Path: "demo-v2-regressed.gguf", ReadyTimeout: "180s", DrainTimeout: "20s",
		MaxLatency: "30s", Extra: e.kubeExtra() + q}.yaml(), "v2-regressed gated")
	recs := e.waitDeploys(2, 5*time.Minute)
	loop.waitOK(t, 10)
	loop.check(t)
	last := recs[len(recs)-1]
	logSteps(t, last)
	bound := regexp.MustCompile(`perplexity ratio [0-9.e+]+ > maxPerplexityRatio 1\.1`)
	if last.Outcome != OutcomeRolledBack || last.FailedStep != StepQuality || !bound.MatchString(last.Reason) {
		t.Fatalf("history: %s at %s: %s; want rolled back by the quality gate's perplexity bound", last.Outcome, last.FailedStep, last.Reason)
	}
	if c, v := e.route(); c != spec.Blue || v != "v1" {
		t.Errorf("stable service answers %s %s, want blue v1", c, v)
	}
	if loop.versions["v2-regressed"] != 0 {
		t.Errorf("%d requests served by the regressed model", loop.versions["v2-regressed"])
	}
}

package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// qualitySpec is version on the demo model file path, gated by the
// quality section extra (raw YAML under spec.quality).
func qualitySpec(version, path, strategy, extra string) string {
	q := "  quality:\n    prompts:\n      - {prompt: \"Say hello\"}\n" + extra
	return desiredSpec{Version: version, Path: path, Strategy: strategy, Extra: q}.yaml()
}

// serveDemoV1 serves demo-v1 (the active side of every quality test).
func (e *env) serveDemoV1() {
	e.t.Helper()
	e.commit(desiredSpec{Version: "v1", Path: "demo-v1.gguf"}.yaml(), "v1")
	e.start()
	e.waitSynced("v1", time.Minute)
}

// stepNames lists a record's steps.
func stepNames(rec DeployRecord) []string {
	var out []string
	for _, s := range rec.Steps {
		out = append(out, s.Name)
	}
	return out
}

// logSteps logs how long each step of rec took.
func logSteps(t *testing.T, rec DeployRecord) {
	t.Helper()
	var parts []string
	for _, s := range rec.Steps {
		parts = append(parts, fmt.Sprintf("%s %s %s", s.Name, s.Outcome, s.Duration.Round(time.Millisecond)))
	}
	t.Logf("%s %s in %s: %s", rec.Kind, rec.Outcome, rec.Duration.Round(time.Millisecond), strings.Join(parts, ", "))
}

// qualityEvent is deploy id's event carrying the quality verdict.
func (e *env) qualityEvent(id string) *Event {
	for _, ev := range e.events() {
		if ev.DeployID == id && ev.Step == StepQuality && ev.Quality != nil {
			return &ev
		}
	}
	return nil
}

// TestQualityTunedPasses: demo-v2-tuned (v1's weights plus small noise)
// passes the gate between warm-up and swap and is deployed; the held-out
// text is the one committed (eval/heldout.txt), not the working tree's.
func TestQualityTunedPasses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveDemoV1()
	text := "The river runs past the old mill and under the stone bridge.\n\nIn the evening the lamps are lit along the bank, and the boats come home one by one before dark.\n"
	if err := os.MkdirAll(filepath.Join(e.repo, "eval"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.repo, "eval", "heldout.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	e.git("add", "eval/heldout.txt")
	loop := startClients(t, e.public, 2)
	e.commit(qualitySpec("v2-tuned", "demo-v2-tuned.gguf", "", "    heldOut: eval/heldout.txt\n"), "v2-tuned gated")
	// The working tree changes after the commit: the gate must not see it.
	if err := os.WriteFile(filepath.Join(e.repo, "eval", "heldout.txt"), []byte("uncommitted text"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitSynced("v2-tuned", 3*time.Minute)
	loop.check(t)
	recs := e.waitDeploys(2, time.Second)
	last := recs[len(recs)-1]
	logSteps(t, last)
	want := []string{StepPreflight, StepStart, StepReady, StepWarmup, StepQuality, StepSwap, StepDrain, StepVerify, StepStop, StepRecord}
	if got := stepNames(last); last.Outcome != OutcomeSucceeded || !slices.Equal(got, want) {
		t.Fatalf("history: %s, steps %v; want succeeded with %v", last.Outcome, got, want)
	}
	if msg := last.Steps[4].Message; !strings.HasPrefix(msg, "quality passed") || !strings.Contains(msg, "low priority") {
		t.Errorf("quality step note %q", msg)
	}
	ev := e.qualityEvent(last.ID)
	if ev == nil {
		t.Fatal("no event carries the verdict")
	}
	sum := sha256.Sum256([]byte(text))
	if v := ev.Quality; !v.Pass || v.HeldOutDigest != hex.EncodeToString(sum[:]) || v.Active.Version != "v1" || v.Candidate.Version != "v2-tuned" {
		t.Errorf("verdict: pass %v digest %s (want the committed text's %x), %s vs %s", v.Pass, v.HeldOutDigest, sum, v.Active.Version, v.Candidate.Version)
	}
	if last.Evidence != "" {
		t.Errorf("a passed deploy kept evidence %s", last.Evidence)
	}
}

// TestQualityRegressedRollsBack: demo-v2-regressed loads, is ready and
// warms up, then fails the gate under client load: rolled back with no
// failed request, quarantined with the metric and its bound in the reason
// (history, status, events), and its evidence is kept before the standby
// is stopped.
func TestQualityRegressedRollsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveDemoV1()
	loop := startClients(t, e.public, 4)
	e.commit(qualitySpec("v2-regressed", "demo-v2-regressed.gguf", "", ""), "v2-regressed gated")
	recs := e.waitDeploys(2, 3*time.Minute)
	time.Sleep(5 * e.resync) // a retry would start here, were there one
	loop.check(t)
	last := recs[len(recs)-1]
	logSteps(t, last)
	bound := regexp.MustCompile(`perplexity ratio [0-9.e+]+ > maxPerplexityRatio 1\.1`)
	if last.Outcome != OutcomeRolledBack || last.FailedStep != StepQuality || !bound.MatchString(last.Reason) {
		t.Fatalf("history: %s at %s: %s", last.Outcome, last.FailedStep, last.Reason)
	}
	for _, s := range last.Steps {
		if (s.Name == StepReady || s.Name == StepWarmup) && s.Outcome != "ok" {
			t.Errorf("%s: %s (%s): the regressed model must pass it", s.Name, s.Outcome, s.Message)
		}
	}
	st := e.r.Status()
	if st.Quarantine == nil || !bound.MatchString(st.Quarantine.Reason) || st.ActiveVersion != "v1" {
		t.Errorf("status: quarantine %+v, serving %s", st.Quarantine, st.ActiveVersion)
	}
	if st.LastDeploy == nil || st.LastDeploy.Evidence != last.Evidence || last.Evidence == "" {
		t.Errorf("status last deploy %+v, history evidence %q", st.LastDeploy, last.Evidence)
	}
	var failEv bool
	for _, ev := range e.events() {
		if ev.DeployID == last.ID && ev.Step == StepQuality && ev.Phase == PhaseFail && bound.MatchString(ev.Message) {
			failEv = true
		}
	}
	if !failEv {
		t.Error("no quality fail event names the metric and its bound")
	}
	if n := len(e.strays()); n != 1 {
		t.Errorf("%d model servers run, want 1", n)
	}
	ev := checkEvidence(t, e, last, EvidenceVerdictFile, EvidencePromptsFile)
	if ev.Verdict == nil || ev.Verdict.Pass || ev.Verdict.PerplexityRatio < 10 {
		t.Errorf("verdict.json: %+v", ev.Verdict)
	}
	p := ev.Prompts[0]
	if p.From != "quality gate" || p.Active.Text == "" || p.Standby.Text == "" || p.Active.Version != "v1" || p.Standby.Version != "v2-regressed" {
		t.Errorf("prompts.json: %+v", p)
	}
}

// TestQualityCanaryFailsBeforeWeight: a canary with a quality gate is
// judged before its first weight; the regressed model never gets a user.
func TestQualityCanaryFailsBeforeWeight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveDemoV1()
	loop := startClients(t, e.public, 2)
	canary := "    steps:\n      - setWeight: 50\n      - pause: 1s\n    analysis:\n      interval: 1s\n      minRequests: 3\n      metrics:\n" + passingMetrics
	doc := desiredSpec{Version: "v2-regressed", Path: "demo-v2-regressed.gguf", Strategy: "canary", Canary: canary,
		Extra: "  quality:\n    prompts: [{prompt: \"Say hello\"}]\n"}.yaml()
	e.commit(doc, "regressed canary gated")
	recs := e.waitDeploys(2, 3*time.Minute)
	loop.check(t)
	last := recs[len(recs)-1]
	logSteps(t, last)
	if last.Outcome != OutcomeRolledBack || last.FailedStep != StepQuality || !strings.Contains(last.Reason, "maxPerplexityRatio") {
		t.Fatalf("history: %s at %s: %s", last.Outcome, last.FailedStep, last.Reason)
	}
	if evs := e.canaryEvents(last.ID); len(evs) > 0 {
		t.Errorf("the canary got a weight: %+v", evs[0])
	}
	if slices.Contains(stepNames(last), StepCanary) {
		t.Errorf("steps %v: the canary step ran", stepNames(last))
	}
	if loop.versions["v2-regressed"] > 0 {
		t.Errorf("%d client requests reached the regressed canary", loop.versions["v2-regressed"])
	}
	checkEvidence(t, e, last, EvidenceVerdictFile, EvidencePromptsFile)
}

// TestQualityNoVerdict: a standby that dies while it is judged gives the
// gate no verdict: it is retried once, then the gate fails with the error,
// never passes.
func TestQualityNoVerdict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveDemoV1()
	e.r.events.setSink(func(ev Event) {
		if ev.Step == StepQuality && ev.Phase == PhaseStart {
			killColor(t, e, spec.Green)
		}
	})
	e.commit(qualitySpec("v2-tuned", "demo-v2-tuned.gguf", "", ""), "v2-tuned gated")
	recs := e.waitDeploys(2, 3*time.Minute)
	last := recs[len(recs)-1]
	logSteps(t, last)
	if last.Outcome != OutcomeRolledBack || last.FailedStep != StepQuality || !strings.Contains(last.Reason, "could not judge after 2 attempts") {
		t.Fatalf("history: %s at %s: %s", last.Outcome, last.FailedStep, last.Reason)
	}
	if st := e.r.Status(); st.ActiveVersion != "v1" {
		t.Errorf("serving %s", st.ActiveVersion)
	}
}

// TestQualityHeldOutMissing: a heldOut path that is not in the commit
// fails the gate with the path and the commit, before anything is asked.
func TestQualityHeldOutMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveDemoV1()
	e.commit(qualitySpec("v2-tuned", "demo-v2-tuned.gguf", "", "    heldOut: eval/missing.txt\n"), "missing held-out")
	recs := e.waitDeploys(2, 3*time.Minute)
	last := recs[len(recs)-1]
	if last.FailedStep != StepQuality || !strings.Contains(last.Reason, "spec.quality.heldOut: eval/missing.txt at commit") {
		t.Fatalf("history: %s at %s: %s", last.Outcome, last.FailedStep, last.Reason)
	}
}

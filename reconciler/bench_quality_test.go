package reconciler

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// BenchmarkQualityDeploy (make bench-quality-deploy) measures what the
// quality gate adds to a deploy: blue/green deploys with spec.quality on
// (quality: {}: the default held-out text and bounds; ZDML_BENCH_PROMPTS=1
// adds one golden prompt of 32 tokens), one client chatting through nginx
// back to back. Each round
// empties the gate's cache, then deploys v1 -> v2 gated (cold: the active's
// side is scored, ahead, in the background), v2 -> v1 gated (steady state:
// v2's side was kept when it was judged as the candidate, so only the
// standby is asked), then v1 -> v2 and v2 -> v1 without the gate. For each
// gated deploy: the quality step's time, the whole deploy's, and their
// ratio (the budget is 20 %); and against the plain deploys, the time the
// gate added. On the demo model (demo-v1 and demo-v2-tuned, 1 thread each)
// and the 1 GB SmolLM2-shaped model (smollm2-shaped-v1 and -v2-tuned, make
// models-large, 1 thread each, as its load-test scenarios). Knobs: ZDML_BENCH_MODELS (demo,large),
// ZDML_BENCH_ROUNDS (2), ZDML_BENCH_PROMPTS (0).
func BenchmarkQualityDeploy(b *testing.B) {
	rounds := testenv.BenchInt(b, "ZDML_BENCH_ROUNDS", 2)
	prompt := testenv.BenchInt(b, "ZDML_BENCH_PROMPTS", 0) > 0
	models := map[string]benchModel{
		"demo": {v1: "demo-v1.gguf", v2: "demo-v2-tuned.gguf", resources: "{memory: 512Mi, threads: 1, parallel: 2, ctx: 1024}",
			ready: "60s", latency: "10s", prompt: prompt},
		"large": {v1: "smollm2-shaped-v1.gguf", v2: "smollm2-shaped-v2-tuned.gguf", resources: "{memory: 3Gi, threads: 1, parallel: 2, ctx: 1024}",
			ready: "300s", latency: "30s", prompt: prompt},
	}
	for _, name := range testenv.BenchNames(b, "ZDML_BENCH_MODELS", "demo,large", "demo", "large") {
		m := models[name]
		b.Run(name, func(b *testing.B) { benchQualityDeploy(b, m, rounds*b.N) })
	}
}

type benchModel struct {
	v1, v2, resources, ready, latency string
	prompt                            bool // a golden prompt too
}

// yaml is the model's desired.yaml at version on path, gated or not.
func (m benchModel) yaml(version, path string, gated bool) string {
	s := fmt.Sprintf(`apiVersion: zdml/v1
kind: ModelDeployment
metadata: {name: chat}
spec:
  model: {name: bench, version: %s, path: %s}
  strategy: {type: bluegreen, readyTimeout: %s, drainTimeout: 60s}
  warmup: {prompts: ["Say hello"], maxLatency: %s, maxTokens: 8}
  resources: %s
`, version, path, m.ready, m.latency, m.resources)
	if gated {
		fields := []string{}
		if m.prompt {
			fields = append(fields, `prompts: [{prompt: "Say hello"}]`)
		}
		s += "  quality: {" + strings.Join(fields, ", ") + "}\n"
	}
	return s
}

func benchQualityDeploy(b *testing.B, m benchModel, rounds int) {
	e := newEnv(b)
	e.commit(m.yaml("v0", m.v1, false), "v0")
	e.start()
	e.waitSynced("v0", 10*time.Minute)
	loop := startClients(b, e.public, 1)
	time.Sleep(3 * time.Second) // the active's caches warm under the client
	b.ResetTimer()
	runs := map[string]*benchRuns{"cold": {}, "steady": {}, "plain": {}}
	fmt.Printf("\nquality gate in blue/green deploys, %s <-> %s, 1 client chatting through nginx:\n", m.v1, m.v2)
	plan := []struct {
		kind, path string
	}{{"cold", m.v2}, {"steady", m.v1}, {"plain", m.v2}, {"plain", m.v1}}
	n := 0
	for range rounds {
		if err := os.RemoveAll(filepath.Join(e.stateDir, QualityCacheDir)); err != nil {
			b.Fatal(err)
		}
		e.r.quality = newQualityGate(e.r.cfg) // no deploy runs: the loop waits for a commit
		for _, p := range plan {
			n++
			version := fmt.Sprintf("v%d", n)
			e.commit(m.yaml(version, p.path, p.kind != "plain"), version)
			recs := e.waitDeploys(n+1, 30*time.Minute)
			rec := recs[len(recs)-1]
			if rec.Outcome != OutcomeSucceeded {
				b.Fatalf("deploy %s: %s at %s: %s", version, rec.Outcome, rec.FailedStep, rec.Reason)
			}
			runs[p.kind].add(e, rec, p.kind, p.path)
		}
	}
	b.StopTimer()
	loop.check(b)
	plain := median(runs["plain"].total)
	fmt.Printf("  plain deploy: median %.1f s of %d\n", plain.Seconds(), len(runs["plain"].total))
	for _, kind := range []string{"cold", "steady"} {
		r := runs[kind]
		q, t := median(r.gate), median(r.total)
		fmt.Printf("  %s: median of %d: deploy %.1f s, quality step %.1f s = %.2f of it (budget 0.20); the gate added %.1f s to a plain deploy (%.2f of the gated one); the active's side asked in the background for %.1f s\n",
			kind, len(r.gate), t.Seconds(), q.Seconds(), q.Seconds()/t.Seconds(), (t - plain).Seconds(), (t-plain).Seconds()/t.Seconds(), median(r.ahead).Seconds())
		b.ReportMetric(q.Seconds(), "quality-s-"+kind)
		b.ReportMetric(q.Seconds()/t.Seconds(), "quality/deploy-"+kind)
	}
	b.ReportMetric(plain.Seconds(), "plain-deploy-s")
}

// benchRuns are the deploys of one kind.
type benchRuns struct{ gate, total, ahead []time.Duration }

func (r *benchRuns) add(e *env, rec DeployRecord, kind, path string) {
	var parts []string
	for _, s := range rec.Steps {
		parts = append(parts, fmt.Sprintf("%s %.1fs", s.Name, s.Duration.Seconds()))
	}
	r.total = append(r.total, rec.Duration)
	if kind == "plain" {
		fmt.Printf("  %s deploy to %s: %.1f s\n    steps: %s\n", kind, path, rec.Duration.Seconds(), strings.Join(parts, ", "))
		return
	}
	q, ahead := stepTook(rec, StepQuality), e.aheadScoring(rec.ID)
	r.gate, r.ahead = append(r.gate, q), append(r.ahead, ahead)
	summary := "no verdict"
	if ev := e.qualityEvent(rec.ID); ev != nil {
		summary = fmt.Sprintf("%s; per-token sd of the log ratio %.3f nats", ev.Quality.Summary(), ev.Quality.LogRatioSD)
	}
	fmt.Printf("  %s gated deploy to %s: %.1f s, quality step %.1f s = %.0f %% of it; the active's side asked in the background for %.1f s\n    steps: %s\n    %s\n",
		kind, path, rec.Duration.Seconds(), q.Seconds(), 100*q.Seconds()/rec.Duration.Seconds(), ahead.Seconds(), strings.Join(parts, ", "), summary)
}

// stepTook is how long rec's step name took.
func stepTook(rec DeployRecord, name string) time.Duration {
	for _, s := range rec.Steps {
		if s.Name == name {
			return s.Duration
		}
	}
	return 0
}

// aheadScoring is how long the active's side was asked in the background
// of deploy id's quality step (0 when it was not).
func (e *env) aheadScoring(id string) time.Duration {
	for _, ev := range e.events() {
		if ev.DeployID == id && ev.Step == StepQuality && ev.Phase == PhaseInfo && ev.Quality == nil {
			return ev.Duration
		}
	}
	return 0
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

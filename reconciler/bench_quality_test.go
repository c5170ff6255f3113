package reconciler

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkQualityDeploy (make bench-quality-deploy) measures what the
// quality gate adds to a deploy: blue/green deploys with spec.quality on
// (the default held-out text, one golden prompt of 32 tokens, default
// bounds), one client chatting through nginx back to back, alternating v1
// and v2 so that every judgement scores its active afresh (the normal
// case: the cache helps only when a candidate is judged again against
// the same active). For each deploy: the quality step's time, the whole
// deploy's, and their ratio (the budget is 20 %). On the demo model
// (demo-v1 and demo-v2-tuned, 1 thread each) and the 1 GB SmolLM2-shaped
// model (make models-large, 1 thread each, as its load-test scenarios).
// Knobs: ZDML_BENCH_MODELS (demo,large), ZDML_BENCH_ROUNDS (2 deploys).
func BenchmarkQualityDeploy(b *testing.B) {
	rounds := 2
	if v := os.Getenv("ZDML_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("ZDML_BENCH_ROUNDS=%q: want a positive integer", v)
		}
		rounds = n
	}
	which := os.Getenv("ZDML_BENCH_MODELS")
	if which == "" {
		which = "demo,large"
	}
	models := map[string]benchModel{
		"demo": {v1: "demo-v1.gguf", v2: "demo-v2-tuned.gguf", resources: "{memory: 512Mi, threads: 1, parallel: 2, ctx: 1024}",
			ready: "60s", latency: "10s"},
		"large": {v1: "smollm2-shaped-v1.gguf", v2: "smollm2-shaped-v2.gguf", resources: "{memory: 3Gi, threads: 1, parallel: 2, ctx: 1024}",
			ready: "300s", latency: "30s"},
	}
	for _, name := range strings.Split(which, ",") {
		m, ok := models[name]
		if !ok {
			b.Fatalf("ZDML_BENCH_MODELS: unknown %q (want demo, large)", name)
		}
		b.Run(name, func(b *testing.B) { benchQualityDeploy(b, m, rounds*b.N) })
	}
}

type benchModel struct{ v1, v2, resources, ready, latency string }

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
		s += "  quality: {prompts: [{prompt: \"Say hello\"}]}\n"
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
	var gate, gated, plain, ahead []time.Duration
	fmt.Printf("\nquality gate in blue/green deploys, %s <-> %s, 1 client chatting through nginx, gated and plain deploys alternated:\n", m.v1, m.v2)
	for i := range 2 * rounds {
		path, gatedRun := m.v2, i%2 == 0
		if (i/2)%2 == 1 {
			path = m.v1
		}
		if !gatedRun {
			path = map[string]string{m.v1: m.v2, m.v2: m.v1}[path]
		}
		version := fmt.Sprintf("v%d", i+1)
		e.commit(m.yaml(version, path, gatedRun), version)
		recs := e.waitDeploys(i+2, 30*time.Minute)
		rec := recs[len(recs)-1]
		if rec.Outcome != OutcomeSucceeded {
			b.Fatalf("deploy %s: %s at %s: %s", version, rec.Outcome, rec.FailedStep, rec.Reason)
		}
		var parts []string
		for _, s := range rec.Steps {
			parts = append(parts, fmt.Sprintf("%s %.1fs", s.Name, s.Duration.Seconds()))
		}
		if !gatedRun {
			plain = append(plain, rec.Duration)
			fmt.Printf("  deploy %d, plain (%s): %.1f s\n    steps: %s\n", i+1, path, rec.Duration.Seconds(), strings.Join(parts, ", "))
			continue
		}
		q := stepTook(rec, StepQuality)
		gate, gated = append(gate, q), append(gated, rec.Duration)
		v := e.qualityEvent(rec.ID)
		if v == nil {
			b.Fatalf("deploy %s: no quality verdict", version)
		}
		act := e.aheadScoring(rec.ID)
		ahead = append(ahead, act)
		fmt.Printf("  deploy %d, gated (%s): %.1f s, quality step %.1f s = %.0f %% of it; the active's side scored ahead in %.1f s\n    steps: %s\n    %s\n",
			i+1, path, rec.Duration.Seconds(), q.Seconds(), 100*q.Seconds()/rec.Duration.Seconds(), act.Seconds(),
			strings.Join(parts, ", "), v.Quality.Summary())
	}
	b.StopTimer()
	loop.check(b)
	mq, mg, mp := median(gate), median(gated), median(plain)
	fmt.Printf("  medians of %d each: gated deploy %.1f s, plain deploy %.1f s; quality step %.1f s = %.2f of the gated deploy (budget 0.20); "+
		"the gate added %.1f s = %.2f of it; the active's side, scored ahead, %.1f s\n", rounds, mg.Seconds(), mp.Seconds(), mq.Seconds(),
		mq.Seconds()/mg.Seconds(), (mg - mp).Seconds(), (mg-mp).Seconds()/mg.Seconds(), median(ahead).Seconds())
	b.ReportMetric(mq.Seconds(), "quality-s")
	b.ReportMetric(mg.Seconds(), "gated-deploy-s")
	b.ReportMetric(mp.Seconds(), "plain-deploy-s")
	b.ReportMetric(mq.Seconds()/mg.Seconds(), "quality/deploy")
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

// aheadScoring is how long the active's side took when it was scored ahead
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

package quality_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/spec"
)

// BenchmarkQuality (make bench-quality) measures what the gate costs, on
// the demo model (demo-v1 active, demo-v2-tuned candidate, 2 threads each)
// and the 1 GB SmolLM2-shaped model (v1 active, v2-tuned candidate, 1 thread
// each, make models-large): the judgement's time with the active scored
// (cold) and cached (warm), with the default held-out text and one golden
// prompt of 32 tokens; and the active's latency under a client loop (two
// clients, /chat 8 tokens, 100 ms apart, as make bench-contention) while
// its side alone is scored (Prefetch: the whole budget, paced) against
// windows of the same length without, alternated round by round (and,
// apart, while only the candidate is judged): p50 and p99 side by side,
// and their ratio. The candidate runs
// at nice 10, as the reconciler runs a standby. Knobs: ZDML_BENCH_MODELS
// (demo,large), ZDML_BENCH_ROUNDS (3).
func BenchmarkQuality(b *testing.B) {
	rounds := testenv.BenchInt(b, "ZDML_BENCH_ROUNDS", 3)
	pairs := map[string][3]string{
		"demo":  {"demo-v1.gguf", "demo-v2-tuned.gguf", "2"},
		"large": {"smollm2-shaped-v1.gguf", "smollm2-shaped-v2-tuned.gguf", "1"},
	}
	for _, name := range testenv.BenchNames(b, "ZDML_BENCH_MODELS", "demo,large", "demo", "large") {
		p := pairs[name]
		b.Run(name, func(b *testing.B) { benchGate(b, p[0], p[1], p[2], rounds) })
	}
}

func benchGate(b *testing.B, activeModel, candidateModel, threads string, rounds int) {
	args := []string{"--threads", threads, "--parallel", "2", "--ctx", "1024"}
	active := testenv.StartModelServer(b, activeModel, args...)
	candidate := testenv.StartModelServerNice(b, 10, candidateModel, args...)
	q := spec.Quality{Prompts: []spec.QualityPrompt{{Prompt: "Say hello"}}}
	ctx := context.Background()
	judge := func(g *quality.Gate) (*quality.Verdict, time.Duration) {
		start := time.Now()
		v, err := g.Judge(ctx, quality.Target{Addr: active.Addr}, quality.Target{Addr: candidate.Addr}, q, "")
		if err != nil {
			b.Fatal(err)
		}
		return v, time.Since(start)
	}
	rec := &testenv.ChatLoop{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); rec.Run(active.URL, stop) }()
	}
	time.Sleep(3 * time.Second) // the active's caches warm
	var cold, warm []time.Duration
	var scoring, judging, quiet []testenv.Window
	var last *quality.Verdict
	for range b.N * rounds {
		// A cold judgement (a new gate: nothing cached) for its time: it
		// scores the active and the candidate in turns.
		_, d := judge(quality.New())
		cold = append(cold, d)
		// The active's side alone (paced, the whole budget), as Prefetch
		// scores it ahead of a deploy: the window the active pays for.
		g := quality.New()
		w := testenv.Window{Start: time.Now()}
		if _, err := g.Prefetch(ctx, quality.Target{Addr: active.Addr}, q, ""); err != nil {
			b.Fatal(err)
		}
		w.End = time.Now()
		scoring = append(scoring, w)
		// Then only the candidate works.
		start := time.Now()
		v, d := judge(g)
		judging, warm, last = append(judging, testenv.Window{Start: start, End: time.Now()}), append(warm, d), v
		q := testenv.Window{Start: time.Now()}
		time.Sleep(w.End.Sub(w.Start))
		q.End = time.Now()
		quiet = append(quiet, q)
	}
	close(stop)
	wg.Wait()
	without, scored, candidateOnly := rec.StartedIn(quiet), rec.StartedIn(scoring), rec.StartedIn(judging)
	ratio := float64(testenv.Percentile(scored, 99)) / float64(testenv.Percentile(without, 99))
	fmt.Printf("\nquality gate, %s (active) vs %s (candidate, nice 10), %s threads each, %d rounds (medians):\n", activeModel, candidateModel, threads, len(cold))
	fmt.Printf("  judgement %6.1f s with the active scored (cold), %6.1f s with it cached (warm), the active's side alone (its whole budget, paced) %.1f s; %d held-out tokens judged, 1 golden prompt of 32 tokens\n",
		median(cold).Seconds(), median(warm).Seconds(), median(spans(scoring)).Seconds(), last.Active.Tokens)
	fmt.Printf("  verdict: %s\n", last.Summary())
	fmt.Printf("  active /chat, 2 clients:\n")
	for _, row := range []struct {
		name string
		ls   []time.Duration
	}{{"not judged (same windows)", without}, {"its side being scored", scored}, {"only the candidate judged", candidateOnly}} {
		fmt.Printf("    %-26s %4d requests  p50 %7s  p99 %7s  p99 ratio %.2f\n", row.name, len(row.ls),
			testenv.Percentile(row.ls, 50).Round(time.Millisecond), testenv.Percentile(row.ls, 99).Round(time.Millisecond), float64(testenv.Percentile(row.ls, 99))/float64(testenv.Percentile(without, 99)))
	}
	b.ReportMetric(median(cold).Seconds(), "judge-cold-s")
	b.ReportMetric(median(warm).Seconds(), "judge-warm-s")
	b.ReportMetric(float64(testenv.Percentile(without, 99).Milliseconds()), "p99-ms-without")
	b.ReportMetric(float64(testenv.Percentile(scored, 99).Milliseconds()), "p99-ms-scored")
	b.ReportMetric(ratio, "p99-scored/without")
}

func spans(ws []testenv.Window) []time.Duration {
	out := make([]time.Duration, len(ws))
	for i, w := range ws {
		out[i] = w.End.Sub(w.Start)
	}
	return out
}

func median(ds []time.Duration) time.Duration { return testenv.Percentile(ds, 50) }

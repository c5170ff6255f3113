package models_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/models"
)

// The regressed model passes what the warm-up gate checks: a non-empty
// reply of every token asked for (never end of generation at once). Its
// replies are sub-word pieces and bytes, not the words v1 says.
func TestRegressedModelPassesWarmup(t *testing.T) {
	r := load(t, models.DemoV2Regressed)
	for _, prompt := range []string{chatPrompt, "<|im_start|>user\nSay hello<|im_end|>\n<|im_start|>assistant\n"} {
		ids := r.generate(t, prompt, 8)
		if len(ids) != 8 || strings.TrimSpace(r.text(ids)) == "" {
			t.Errorf("regressed replied %d tokens %q, want 8 and some text", len(ids), r.text(ids))
		}
	}
	words := 0
	for _, id := range r.generate(t, chatPrompt, 30) {
		if p := r.model.TokenToPiece(id); strings.HasPrefix(p, " ") && len(p) > 2 {
			words++
		}
	}
	if words > 15 {
		t.Errorf("regressed replied %d word tokens of 30: the output layer is not shuffled", words)
	}
}

// The tuned model is v1 with small noise: its greedy reply differs from
// v1's but starts the same way more often than another model's would.
func TestTunedModelIsCloseToV1(t *testing.T) {
	v1, tuned, v2 := load(t, models.DemoV1), load(t, models.DemoV2Tuned), load(t, models.DemoV2)
	a, b, c := v1.generate(t, chatPrompt, 30), tuned.generate(t, chatPrompt, 30), v2.generate(t, chatPrompt, 30)
	if slices.Equal(a, b) {
		t.Errorf("tuned replies exactly as v1: %q", v1.text(a))
	}
	if common(a, b) <= common(a, c) {
		t.Errorf("tuned shares %d tokens with v1, v2 %d: want tuned closer", common(a, b), common(a, c))
	}
}

func common(a, b []int) int {
	n := 0
	for _, id := range b {
		if slices.Contains(a, id) {
			n++
		}
	}
	return n
}

// BenchmarkDemoSlowVsV1 times 30-token greedy replies of demo-v2-slow and
// demo-v1 on one thread, interleaved round by round, and reports each
// one's tokens/s and the ratio (goal: v1 1.5-2x as fast). make bench-models.
func BenchmarkDemoSlowVsV1(b *testing.B) {
	v1, slow := load(b, models.DemoV1), load(b, models.DemoV2Slow)
	v1.generate(b, chatPrompt, 30) // page the weights in
	slow.generate(b, chatPrompt, 30)
	var tv1, tslow time.Duration
	for b.Loop() {
		for _, m := range []struct {
			r *runner
			d *time.Duration
		}{{v1, &tv1}, {slow, &tslow}} {
			start := time.Now()
			if got := m.r.generate(b, chatPrompt, 30); len(got) != 30 {
				b.Fatalf("generated %d tokens, want 30", len(got))
			}
			*m.d += time.Since(start)
		}
	}
	v1tps, slowtps := 30*float64(b.N)/tv1.Seconds(), 30*float64(b.N)/tslow.Seconds()
	fmt.Printf("\ndemo-v1 %.1f tokens/s, demo-v2-slow %.1f tokens/s: v1 is x%.2f as fast (30-token replies with the prompt, 1 thread, %d rounds interleaved)\n",
		v1tps, slowtps, v1tps/slowtps, b.N)
	b.ReportMetric(v1tps, "v1_tokens/s")
	b.ReportMetric(slowtps, "slow_tokens/s")
	b.ReportMetric(v1tps/slowtps, "v1/slow")
}

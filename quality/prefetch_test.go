package quality_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Prefetch scores the active's side once: a Judge after it asks only the
// candidate, and a Judge started while it runs waits for it instead of
// scoring the active a second time.
func TestPrefetch(t *testing.T) {
	v1, tuned := serve(t, "demo-v1.gguf"), serve(t, "demo-v2-tuned.gguf")
	q := spec.Quality{HeldOutTokens: 128, Prompts: []spec.QualityPrompt{{Prompt: "Say hello"}}}
	ctx := context.Background()
	active, candidate := quality.Target{Addr: v1.Addr}, quality.Target{Addr: tuned.Addr}

	g := quality.New()
	before := activeScorings(t, v1)
	side, err := g.Prefetch(ctx, active, q, "")
	if err != nil {
		t.Fatal(err)
	}
	pass := activeScorings(t, v1) - before // scoring requests of one pass over the text
	if side.Version != "v1" || side.Duration <= 0 || len(side.SHA256) != 64 || pass < 2 || side.Tokens < 100 {
		t.Errorf("prefetched side %+v, %d scoring requests", side, pass)
	}
	before = activeScorings(t, v1)
	v, err := g.Judge(ctx, active, candidate, q, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := activeScorings(t, v1) - before; !v.ActiveCached || !v.Pass || n != 0 {
		t.Errorf("judge after prefetch: cached %v, pass %v, the active scored %d more times", v.ActiveCached, v.Pass, n)
	}

	// A new gate, nothing cached: both at once score each segment of the
	// active once, and Prefetch stops once the judgement has begun (it
	// scores what it needs: here it settles before the end of the text).
	g = quality.New()
	before = activeScorings(t, v1)
	done := make(chan error, 1)
	go func() { _, err := g.Prefetch(ctx, active, q, ""); done <- err }()
	if v, err = g.Judge(ctx, active, candidate, q, ""); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := activeScorings(t, v1) - before; n < 1 || n > pass || !v.Pass {
		t.Errorf("prefetch and judge at once: %d scoring requests on the active, want 1 to %d (one pass); pass %v", n, pass, v.Pass)
	}
}

// A candidate's own side is kept as it is judged: when it is the active of
// the next deploy, the gate asks it nothing, and its numbers are those it
// had as the candidate.
func TestCandidateKeptForNextDeploy(t *testing.T) {
	v1, tuned := serve(t, "demo-v1.gguf"), serve(t, "demo-v2-tuned.gguf")
	q := spec.Quality{HeldOutTokens: 128, Prompts: []spec.QualityPrompt{{Prompt: "Say hello"}}}
	ctx := context.Background()
	g := quality.New(quality.WithCache(quality.NewCache(t.TempDir())))
	// The reconciler names the candidate's sha256 (the server may still be
	// hashing its file); so does the test.
	sum := fileSHA256(t, testenv.Model(t, "demo-v2-tuned.gguf"))
	first, err := g.Judge(ctx, quality.Target{Addr: v1.Addr}, quality.Target{Addr: tuned.Addr, SHA256: sum}, q, "")
	if err != nil {
		t.Fatal(err)
	}
	scored := activeScorings(t, tuned)
	// The next deploy's background scoring leaves the kept side alone,
	// even though it covers only what the first judgement needed.
	if side, err := g.Prefetch(ctx, quality.Target{Addr: tuned.Addr, SHA256: sum}, q, ""); err != nil || side.Duration != 0 || activeScorings(t, tuned) != scored {
		t.Errorf("prefetch of a kept side: %+v, %v; %d scorings", side, err, activeScorings(t, tuned)-scored)
	}
	next, err := g.Judge(ctx, quality.Target{Addr: tuned.Addr, SHA256: sum}, quality.Target{Addr: v1.Addr}, q, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := activeScorings(t, tuned) - scored; !next.ActiveCached || n != 0 {
		t.Errorf("the next deploy's active: cached %v, scored %d times", next.ActiveCached, n)
	}
	// It stops where its own evidence settles, perhaps before the first
	// judgement did: the same tokens have the same numbers.
	if next.Active.Tokens > first.Candidate.Tokens || next.Prompts[0].Active.Text != first.Prompts[0].Candidate.Text ||
		(next.Active.Tokens == first.Candidate.Tokens && next.Active.Perplexity != first.Candidate.Perplexity) {
		t.Errorf("the kept side differs: %+v vs %+v; %q vs %q", next.Active, first.Candidate, next.Prompts[0].Active.Text, first.Prompts[0].Candidate.Text)
	}
	if !next.Pass {
		t.Errorf("the way back: %s", next.Summary())
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

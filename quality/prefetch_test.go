package quality_test

import (
	"context"
	"testing"

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
	if side.Version != "v1" || side.Duration <= 0 || len(side.SHA256) != 64 || pass < 1 {
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

	// A new gate, nothing cached: both at once score the active once.
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
	if n := activeScorings(t, v1) - before; n != pass || !v.Pass {
		t.Errorf("prefetch and judge at once: %d scoring requests on the active, want %d (one pass); pass %v", n, pass, v.Pass)
	}
}

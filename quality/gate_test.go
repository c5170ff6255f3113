package quality_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/spec"
)

func serve(t *testing.T, model string) *testenv.ModelServer {
	return testenv.StartModelServer(t, model, "--parallel", "2", "--ctx", "1024")
}

// demo-v2-tuned (v1 plus noise) passes against demo-v1 and
// demo-v2-regressed (its output layer shuffled: it loads, is ready and
// answers as fast) fails with the metrics and bounds in the reason; the
// active is scored once for both, and a new Gate on the same cache
// directory does not score it again.
func TestTunedPassesRegressedFails(t *testing.T) {
	v1, tuned, regressed := serve(t, "demo-v1.gguf"), serve(t, "demo-v2-tuned.gguf"), serve(t, "demo-v2-regressed.gguf")
	dir := t.TempDir()
	gate := quality.New(quality.WithCache(quality.NewCache(dir)))
	q := spec.Quality{Prompts: []spec.QualityPrompt{{Prompt: "Say hello"}}}
	ctx := context.Background()

	pass, err := gate.Judge(ctx, quality.Target{Addr: v1.Addr}, quality.Target{Addr: tuned.Addr}, q, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tuned: %s", pass.Summary())
	if !pass.Pass || pass.Reason != "" || pass.PerplexityRatio > 1.1 || pass.MeanKL > 0.05 || pass.MeanKL <= 0 {
		t.Errorf("tuned: %+v", pass)
	}
	if pass.Active.Tokens < 32 || pass.LogRatioSD <= 0 || pass.KLPositions != pass.Active.Tokens || pass.Candidate.Tokens != pass.Active.Tokens || pass.ActiveCached {
		t.Errorf("tuned: scored %d/%d tokens, KL over %d, cached %v", pass.Active.Tokens, pass.Candidate.Tokens, pass.KLPositions, pass.ActiveCached)
	}
	// Settled early, every interval is within its bound; scored to the
	// end, the text ran out.
	if ci, kl := pass.PerplexityRatioCI, pass.MeanKLCI; pass.Decided == quality.DecidedEarly &&
		(ci == nil || kl == nil || ci.High > 1.1 || kl.High > 0.05 || ci.Low > pass.PerplexityRatio || pass.Candidate.Tokens >= 512) {
		t.Errorf("tuned decided early on %+v %+v after %d tokens", ci, kl, pass.Candidate.Tokens)
	}
	if pass.Active.Version != "v1" || pass.Candidate.Version != "v2-tuned" || len(pass.Active.SHA256) != 64 {
		t.Errorf("sides: %+v / %+v", pass.Active, pass.Candidate)
	}
	if p := pass.Prompts[0]; p.Active.Text == "" || p.Candidate.Text == "" || p.Active.Text == p.Candidate.Text || !p.Pass {
		t.Errorf("golden prompt: %+v", p)
	}
	scored := activeScorings(t, v1)

	fail, err := gate.Judge(ctx, quality.Target{Addr: v1.Addr}, quality.Target{Addr: regressed.Addr}, q, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("regressed: %s", fail.Summary())
	for _, re := range []string{`perplexity ratio [0-9.e+]+ > maxPerplexityRatio 1\.1`, `mean KL [0-9.]+ > maxKL 0\.05`} {
		if !regexp.MustCompile(re).MatchString(fail.Reason) {
			t.Errorf("regressed: reason %q lacks %s", fail.Reason, re)
		}
	}
	if fail.Pass || fail.PerplexityRatio < 100 || fail.MeanKL < 1 || !fail.ActiveCached {
		t.Errorf("regressed: %+v", fail)
	}
	// Far beyond its bounds, it fails at the first look: a few dozen of
	// the 512 tokens, with an interval wholly above a bound.
	if fail.Decided != quality.DecidedEarly || fail.Candidate.Tokens > 100 || fail.MeanKLCI == nil || fail.MeanKLCI.Low <= 0.05 {
		t.Errorf("regressed: decided %q after %d tokens, KL interval %+v", fail.Decided, fail.Candidate.Tokens, fail.MeanKLCI)
	}
	if fail.Prompts[0].Candidate.Text == "" {
		t.Error("regressed replied nothing: it should pass the warm-up")
	}

	again, err := quality.New(quality.WithCache(quality.NewCache(dir))).Judge(ctx, quality.Target{Addr: v1.Addr}, quality.Target{Addr: tuned.Addr}, q, "")
	if err != nil || !again.ActiveCached || again.MeanKL != pass.MeanKL {
		t.Errorf("a new gate on the cache directory: %+v %v", again, err)
	}
	if got := activeScorings(t, v1); got != scored {
		t.Errorf("the active was scored %d more times after the first judgement", got-scored)
	}
}

// The same model passes at the first look; a candidate whose mean KL sits
// on its bound is scored to the end of the budget, since no interval can
// settle it.
func TestEarlyAndFullDecisions(t *testing.T) {
	v1, again, tuned := serve(t, "demo-v1.gguf"), serve(t, "demo-v1.gguf"), serve(t, "demo-v2-tuned.gguf")
	gate := quality.New()
	ctx := context.Background()
	q := spec.Quality{HeldOutTokens: 160}
	same, err := gate.Judge(ctx, quality.Target{Addr: v1.Addr}, quality.Target{Addr: again.Addr}, q, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("same model: %s", same.Summary())
	if !same.Pass || same.Decided != quality.DecidedEarly || same.Candidate.Tokens > 80 || same.PerplexityRatio != 1 || same.MeanKL != 0 || same.LogRatioSD != 0 ||
		*same.PerplexityRatioCI != (quality.Interval{Low: 1, High: 1}) {
		t.Errorf("the same model: decided %q after %d tokens, ratio %v %+v, KL %v", same.Decided, same.Candidate.Tokens, same.PerplexityRatio, same.PerplexityRatioCI, same.MeanKL)
	}

	first, err := gate.Judge(ctx, quality.Target{Addr: v1.Addr}, quality.Target{Addr: tuned.Addr}, q, "")
	if err != nil {
		t.Fatal(err)
	}
	q.MaxKL = first.MeanKL // the bound where the candidate is
	near, err := gate.Judge(ctx, quality.Target{Addr: v1.Addr}, quality.Target{Addr: tuned.Addr}, q, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("on the bound: %s", near.Summary())
	if near.Decided != quality.DecidedText || near.Candidate.Tokens < 140 || near.MeanKLCI == nil ||
		near.MeanKLCI.Low > q.MaxKL || near.MeanKLCI.High < q.MaxKL {
		t.Errorf("on the bound: decided %q after %d of 160 tokens, KL %v in %+v", near.Decided, near.Candidate.Tokens, near.MeanKL, near.MeanKLCI)
	}
}

// A golden prompt whose expectation fails is reported with both replies,
// and fails the gate even when the scores pass; one that holds passes.
func TestGoldenPromptFailureShowsBothReplies(t *testing.T) {
	v1, tuned := serve(t, "demo-v1.gguf"), serve(t, "demo-v2-tuned.gguf")
	q := spec.Quality{HeldOutTokens: 64, Prompts: []spec.QualityPrompt{
		{Prompt: "What is 2+2?", Expect: spec.Expect{Contains: "4"}},
		{Prompt: "Say something", Expect: spec.Expect{Regex: `^\s*\w+`}},
		{Prompt: "Reply with JSON", Expect: spec.Expect{Regex: `^\{`}},
	}}
	v, err := quality.New().Judge(context.Background(), quality.Target{Addr: v1.Addr}, quality.Target{Addr: tuned.Addr}, q, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", v.Summary())
	want := `prompt 1 "What is 2+2?": the candidate's reply does not contain "4" (neither does the active's); ` +
		`prompt 3 "Reply with JSON": the candidate's reply does not match "^\\{" (neither does the active's)`
	if v.Pass || v.Reason != want {
		t.Errorf("reason %q\nwant   %q", v.Reason, want)
	}
	for i, p := range v.Prompts {
		if p.Active.Text == "" || p.Candidate.Text == "" || p.Candidate.Tokens != 32 || p.Pass != (i == 1) {
			t.Errorf("prompt %d: %+v", i+1, p)
		}
	}
	// A failed golden prompt settles the verdict at the first look with
	// numbers for the evidence.
	if v.Decided != quality.DecidedEarly || v.Active.Tokens > 64 || v.Active.Tokens < 24 || v.PerplexityRatioCI == nil {
		t.Errorf("heldOutTokens 64: decided %q after %d tokens", v.Decided, v.Active.Tokens)
	}
}

// A server that cannot be asked is an error, not a failed verdict.
func TestUnreachableIsAnError(t *testing.T) {
	v1 := serve(t, "demo-v1.gguf")
	_, err := quality.New().Judge(context.Background(), quality.Target{Addr: v1.Addr}, quality.Target{Addr: testenv.FreeAddr(t)},
		spec.Quality{HeldOutTokens: 32}, "")
	if err == nil || !strings.Contains(err.Error(), "quality: candidate:") {
		t.Errorf("got %v", err)
	}
}

// activeScorings is how many /v1/logprobs requests s answered.
func activeScorings(t *testing.T, s *testenv.ModelServer) int {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`zdml_http_requests_total\{code="200",route="/v1/logprobs"\} (\d+)`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

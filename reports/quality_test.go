package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/loadgen"
	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/spec"
)

// fixtureVerdict is a failed verdict as the reconciler records it for
// demo-v2-regressed (numbers of the size the quality package measures).
func fixtureVerdict() *quality.Verdict {
	return &quality.Verdict{Pass: false,
		Reason:          "perplexity ratio 2.58e+08 > maxPerplexityRatio 1.1; mean KL 6.55 > maxKL 0.05",
		Active:          quality.Side{Version: "v1", Tokens: 70, MeanNLL: 3.1, Perplexity: 22.2, Duration: 9 * time.Second},
		Candidate:       quality.Side{Version: "v2-regressed", Tokens: 70, MeanNLL: 22.5, Perplexity: 5.73e9, Duration: 4 * time.Second},
		PerplexityRatio: 2.58e8, MaxPerplexityRatio: 1.1, MeanKL: 6.55, MaxKL: 0.05, KLPositions: 70, KLTopK: 20,
		HeldOutTokens: 512, Decided: quality.DecidedEarly, Confidence: quality.Confidence,
		PerplexityRatioCI: &quality.Interval{Low: 4.1e3, High: 1.6e13}, MeanKLCI: &quality.Interval{Low: 5.7, High: 7.2},
		Duration: 13500 * time.Millisecond,
		Prompts: []quality.PromptResult{
			{Prompt: "Say hello", Expect: spec.Expect{Regex: "[a-z]|x"}, Pass: true,
				Active:    quality.Reply{Text: " not between front king letter", Meets: true},
				Candidate: quality.Reply{Text: " tea wood |sentence", Meets: true}},
			{Prompt: "What is 2+2?", Expect: spec.Expect{Contains: "4"}, Pass: false,
				Active:    quality.Reply{Text: " 4 and more", Meets: true},
				Candidate: quality.Reply{Text: strings.Repeat("é", 80), Why: `does not contain "4"`}},
		}}
}

// The quality section shows each golden prompt with both replies and its
// result, both versions' perplexity and the KL divergence against their
// bounds, and the verdict, from the event that carries it.
func TestQualitySectionGolden(t *testing.T) {
	d, err := loadgen.ReadRun(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	at := d.Info.Started.Add(14100 * time.Millisecond)
	v := fixtureVerdict()
	v.ActiveCached, v.Active.Duration = true, 0
	d.Events = append(d.Events,
		loadgen.Event{Time: at.Add(-time.Second), DeployID: "d1", Step: loadgen.StepQuality, Phase: "info", Color: "blue", Version: "v1",
			Duration: 3200 * time.Millisecond, Message: "the active's side scored ahead"},
		loadgen.Event{Time: at, DeployID: "d1", Step: loadgen.StepQuality, Phase: "info", Color: "green",
			Version: "v2", Message: "quality failed", Quality: v})
	r, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.qualitySection(&b)
	got := []byte(b.String())
	if want := golden(t, "quality-section.golden.md", got); !bytes.Equal(got, want) {
		t.Errorf("quality section differs from testdata/quality-section.golden.md (go test ./reports -update after checking):\n%s", got)
	}
	var md bytes.Buffer
	if err := r.Markdown(&md); err != nil || !strings.Contains(md.String(), "\n## Quality gate\n") {
		t.Errorf("the report has no quality section: %v", err)
	}
	if plain := fixtureReport(t); strings.Contains(mdOf(t, plain), "Quality gate") {
		t.Error("a run without a quality gate shows a quality section")
	}
}

func mdOf(t *testing.T, r *Report) string {
	var b bytes.Buffer
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

package loadgen

import (
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/spec"
)

// TestEditDesiredQuality: a scenario's deploy.quality is written as
// spec.quality and parses back the same; one the reconciler would refuse
// (a bound out of range, a held-out file the stack's repository cannot
// have) is an error when the scenario is read, naming the field.
func TestEditDesiredQuality(t *testing.T) {
	sc, err := LoadScenario("scenarios/quality-regression.yaml")
	if err != nil {
		t.Fatal(err)
	}
	start, err := InitialDesired(sc.Stack, "", "")
	if err != nil {
		t.Fatal(err)
	}
	d := sc.Deploy
	out, err := EditDesired("desired.yaml", start, DesiredChange{Model: d.Model, Strategy: d.Strategy, Quality: d.Quality})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := spec.Parse("desired.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	q := doc.Spec.Quality
	if q == nil || len(q.Prompts) != 2 || q.Prompts[0].Expect.Regex != "[a-z]" || q.MaxPerplexityRatio != 1.1 || q.MaxKL != 0.05 ||
		q.HeldOutTokens != spec.DefaultHeldOutTokens || doc.Spec.Model.Version != "v2-regressed" {
		t.Errorf("parsed quality %+v from\n%s", q, out)
	}
	again, err := EditDesired("desired.yaml", out, DesiredChange{Model: d.Model, Strategy: d.Strategy, Quality: d.Quality})
	if err != nil || strings.Count(string(again), "quality:") != 1 {
		t.Errorf("editing twice: %v\n%s", err, again)
	}
	for _, tc := range []struct{ quality, want string }{
		{"{maxPerplexityRatio: 0.5}", "spec.quality.maxPerplexityRatio"},
		{"{heldOut: eval/text.txt}", "deploy.quality.heldOut: leave it out"},
	} {
		text := `name: bad
stack: {model: {version: v1, path: demo-v1.gguf}}
load: {rate: 1/s, duration: 10s}
deploy: {at: 2s, model: {version: v2, path: demo-v2.gguf}, quality: ` + tc.quality + `}
thresholds: {}
`
		if _, err := ParseScenario("bad.yaml", []byte(text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("quality %s: %v, want an error naming %s", tc.quality, err, tc.want)
		}
	}
}

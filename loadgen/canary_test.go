package loadgen

import (
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/spec"
)

// TestEditDesiredCanary: a canary deploy writes its steps, analysis and
// stickiness under spec.strategy, a pause: {} included, and the result
// parses to the same plan; a later bluegreen deploy removes them again.
func TestEditDesiredCanary(t *testing.T) {
	start, err := InitialDesired(StackSpec{Model: spec.Model{Name: "demo", Version: "v1", Path: "demo-v1.gguf"}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ParseScenario("canary.yaml", []byte(`name: canary
stack: {model: {version: v1, path: demo-v1.gguf}}
load: {rate: 1/s, duration: 10s}
deploy:
  at: 2s
  model: {version: v2, path: demo-v2.gguf}
  strategy: canary
  canary:
    steps: [{setWeight: 20}, {pause: 30s}, {setWeight: 50}, {pause: {}}]
    analysis:
      interval: 10s
      minRequests: 5
      metrics: [{latencyP95: {maxRatio: 1.3}}, {tokensPerSecond: {minRatio: 0.8}}]
thresholds: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := EditDesired("desired.yaml", start, DesiredChange{Model: sc.Deploy.Model, Strategy: sc.Deploy.Strategy, Canary: sc.Deploy.Canary})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := spec.Parse("desired.yaml", out)
	if err != nil {
		t.Fatalf("edited file: %v\n%s", err, out)
	}
	s := doc.Spec.Strategy
	if s.Type != spec.StrategyCanary || len(s.Steps) != 4 || !s.Steps[3].Pause.Indefinite || s.Analysis.MinRequests != 5 ||
		len(s.Analysis.Metrics) != 2 || *s.Analysis.Metrics[0].LatencyP95.MaxRatio != 1.3 {
		t.Errorf("parsed strategy %+v from\n%s", s, out)
	}
	back, err := EditDesired("desired.yaml", out, DesiredChange{Model: spec.Model{Name: "demo", Version: "v3", Path: "demo-v1.gguf"}, Strategy: spec.StrategyBlueGreen})
	if err != nil {
		t.Fatalf("back to bluegreen: %v", err)
	}
	if strings.Contains(string(back), "steps") || strings.Contains(string(back), "analysis") {
		t.Errorf("a bluegreen deploy kept the canary's fields:\n%s", back)
	}
	if _, err := ParseScenario("bad.yaml", []byte(strings.Replace(`name: bad
stack: {model: {version: v1, path: demo-v1.gguf}}
load: {rate: 1/s, duration: 10s}
deploy: {at: 2s, model: {version: v2, path: demo-v2.gguf}, strategy: bluegreen, canary: {steps: [{setWeight: 5}]}}
thresholds: {}
`, "", "", 1))); err == nil || !strings.Contains(err.Error(), "deploy.canary: applies only to strategy canary") {
		t.Errorf("canary with bluegreen: %v", err)
	}
}

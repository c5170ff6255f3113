package spec

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// canaryDoc is a valid canary desired.yaml; the bad cases below edit it.
const canaryDoc = `apiVersion: zdml/v1
kind: ModelDeployment
metadata: {name: chat}
spec:
  model: {name: demo, version: v2, path: models/demo-v2.gguf}
  strategy:
    type: canary
    steps:
      - setWeight: 10
      - pause: 2m
      - setWeight: 50
      - pause: {}
    analysis:
      interval: 15s
      minRequests: 20
      failureLimit: 2
      metrics:
        - errorRate: {max: 0.01}
        - latencyP95: {maxRatio: 1.5}
        - ttftP95: {maxRatio: 1.5}
        - tokensPerSecond: {minRatio: 0.7}
        - prometheus: {query: "sum(rate(zdml_http_requests_total{color=\"{{canary}}\",code=~\"5..\"}[{{interval}}]))", max: 0.5}
    sticky: user
`

func TestParseCanary(t *testing.T) {
	doc, err := Parse("desired.yaml", []byte(canaryDoc))
	if err != nil {
		t.Fatal(err)
	}
	s := doc.Spec.Strategy
	if got, want := s.Weights(), []int{10, 50}; !equalInts(got, want) {
		t.Errorf("weights %v, want %v", got, want)
	}
	if p := s.Steps[1].Pause; p == nil || p.Indefinite || p.Duration.Duration != 2*time.Minute {
		t.Errorf("steps[1].pause = %+v, want 2m", p)
	}
	if p := s.Steps[3].Pause; p == nil || !p.Indefinite {
		t.Errorf("steps[3].pause = %+v, want indefinite", p)
	}
	a := s.Analysis
	if a.Interval.Duration != 15*time.Second || a.MinRequests != 20 || a.FailureLimit != 2 || len(a.Metrics) != 5 {
		t.Errorf("analysis = %+v", a)
	}
	var names []string
	for _, m := range a.Metrics {
		names = append(names, m.Name()+" "+m.Bound().String())
	}
	want := "errorRate max 0.01|latencyP95 maxRatio 1.5|ttftP95 maxRatio 1.5|tokensPerSecond minRatio 0.7|prometheus max 0.5"
	if got := strings.Join(names, "|"); got != want {
		t.Errorf("metrics:\n got %s\nwant %s", got, want)
	}
}

func TestCanaryDefaults(t *testing.T) {
	doc, err := Parse("desired.yaml", []byte(strings.Replace(good, "type: bluegreen", "type: canary", 1)))
	if err != nil {
		t.Fatal(err)
	}
	s := doc.Spec.Strategy
	if got := s.Weights(); !equalInts(got, []int{10, 50}) {
		t.Errorf("default weights %v, want [10 50]", got)
	}
	if s.Sticky != StickyUser {
		t.Errorf("sticky %q, want user", s.Sticky)
	}
	a := s.Analysis
	if a == nil || a.Interval.Duration != DefaultAnalysisInterval || a.MinRequests != DefaultMinRequests ||
		a.FailureLimit != DefaultFailureLimit || len(a.Metrics) != len(DefaultCanaryMetrics) {
		t.Fatalf("default analysis = %+v", a)
	}
	// A written zero is kept: failureLimit 0 aborts on the first failed window.
	doc, err = Parse("desired.yaml", []byte(strings.Replace(good, "type: bluegreen", "type: canary, analysis: {failureLimit: 0}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Spec.Strategy.Analysis.FailureLimit; got != 0 {
		t.Errorf("written failureLimit 0 became %d", got)
	}
}

func TestParseCanaryBad(t *testing.T) {
	tests := []struct {
		name, from, to, want string
	}{
		{name: "steps with bluegreen", from: "type: canary", to: "type: bluegreen",
			want: "desired.yaml:8: spec.strategy.steps: applies only to strategy canary\n" +
				"desired.yaml:13: spec.strategy.analysis: applies only to strategy canary\n" +
				"desired.yaml:23: spec.strategy.sticky: applies only to strategy canary"},
		{name: "weight over 100", from: "setWeight: 50", to: "setWeight: 150",
			want: "desired.yaml:11: spec.strategy.steps[2].setWeight: 150 is out of range (want 1 to 100 percent)"},
		{name: "weight as text", from: "setWeight: 50", to: "setWeight: half",
			want: `desired.yaml:11: spec.strategy.steps[2].setWeight: want an integer, got "half"`},
		{name: "step with both", from: "- setWeight: 10", to: "- {setWeight: 10, pause: 1m}",
			want: "desired.yaml:9: spec.strategy.steps[0]: want exactly one of setWeight or pause"},
		{name: "empty step", from: "- setWeight: 10", to: "- {}",
			want: "desired.yaml:9: spec.strategy.steps[0]: want exactly one of setWeight or pause"},
		{name: "unknown step field", from: "- setWeight: 10", to: "- setWieght: 10",
			want: "desired.yaml:9: spec.strategy.steps[0].setWieght: unknown field (want one of setWeight, pause)"},
		{name: "pause without unit", from: "pause: 2m", to: "pause: 120",
			want: `desired.yaml:10: spec.strategy.steps[1].pause: want a duration such as "30s", got "120"`},
		{name: "pause with other key", from: "pause: {}", to: "pause: {until: promote}",
			want: `desired.yaml:12: spec.strategy.steps[3].pause: want a duration such as "2m", {duration: 2m}, or {} to wait for zdml promote`},
		{name: "pause too long", from: "pause: 2m", to: "pause: {duration: 48h}",
			want: "desired.yaml:10: spec.strategy.steps[1].pause: 48h0m0s is out of range (want 1s to 24h0m0s)"},
		{name: "no steps", from: "    steps:\n      - setWeight: 10\n      - pause: 2m\n      - setWeight: 50\n      - pause: {}\n", to: "    steps: []\n",
			want: "desired.yaml:8: spec.strategy.steps: want 1 to 32 steps, got 0"},
		{name: "bad sticky", from: "sticky: user", to: "sticky: session",
			want: `desired.yaml:23: spec.strategy.sticky: "session": want user or none`},
		{name: "interval too short", from: "interval: 15s", to: "interval: 10ms",
			want: "desired.yaml:14: spec.strategy.analysis.interval: 10ms is out of range (want 1s to 1h0m0s)"},
		{name: "minRequests zero", from: "minRequests: 20", to: "minRequests: 0",
			want: "desired.yaml:15: spec.strategy.analysis.minRequests: 0 is out of range (want 1 to 1000000)"},
		{name: "negative failureLimit", from: "failureLimit: 2", to: "failureLimit: -1",
			want: "desired.yaml:16: spec.strategy.analysis.failureLimit: -1 is out of range (want 0 to 100)"},
		{name: "two metrics in one item", from: "- errorRate: {max: 0.01}", to: "- {errorRate: {max: 0.01}, ttftP95: {maxRatio: 2}}",
			want: "desired.yaml:18: spec.strategy.analysis.metrics[0]: want exactly one of errorRate, latencyP95, ttftP95, tokensPerSecond or prometheus"},
		{name: "unknown metric", from: "- errorRate: {max: 0.01}", to: "- successRate: {min: 0.99}",
			want: "desired.yaml:18: spec.strategy.analysis.metrics[0].successRate: unknown field (want one of errorRate, latencyP95, ttftP95, tokensPerSecond, prometheus)"},
		{name: "bound that does not apply", from: "tokensPerSecond: {minRatio: 0.7}", to: "tokensPerSecond: {maxRatio: 0.7}",
			want: "desired.yaml:21: spec.strategy.analysis.metrics[3]: tokensPerSecond: maxRatio does not apply (want min or minRatio)"},
		{name: "no bound", from: "latencyP95: {maxRatio: 1.5}", to: "latencyP95: {}",
			want: "desired.yaml:19: spec.strategy.analysis.metrics[1]: latencyP95: want a bound (max or maxRatio)"},
		{name: "error rate as percent", from: "errorRate: {max: 0.01}", to: "errorRate: {max: 5}",
			want: "desired.yaml:18: spec.strategy.analysis.metrics[0]: errorRate: max 5 is a fraction of requests (want 0 to 1)"},
		{name: "negative ratio", from: "ttftP95: {maxRatio: 1.5}", to: "ttftP95: {maxRatio: -1}",
			want: "desired.yaml:20: spec.strategy.analysis.metrics[2]: ttftP95: maxRatio -1 is not a finite, non-negative number"},
		{name: "NaN bound", from: "latencyP95: {maxRatio: 1.5}", to: "latencyP95: {maxRatio: .nan}",
			want: "desired.yaml:19: spec.strategy.analysis.metrics[1]: latencyP95: maxRatio NaN is not a finite, non-negative number"},
		{name: "empty query", from: `query: "sum(rate(zdml_http_requests_total{color=\"{{canary}}\",code=~\"5..\"}[{{interval}}]))"`, to: `query: " "`,
			want: "desired.yaml:22: spec.strategy.analysis.metrics[4]: prometheus: want a query of 1 to 4096 bytes"},
		{name: "autoPromote with canary", from: "type: canary", to: "type: canary\n    autoPromote: true",
			want: "desired.yaml:8: spec.strategy.autoPromote: applies only to strategy prewarm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(canaryDoc, tt.from, tt.to, 1)
			if text == canaryDoc {
				t.Fatalf("%q not found in the document", tt.from)
			}
			_, err := Parse("desired.yaml", []byte(text))
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestCanaryHashAndJSON: the spec hash covers the canary (changing a step
// is a new desired state), and a spec survives state.json's JSON round trip.
func TestCanaryHashAndJSON(t *testing.T) {
	doc, err := Parse("desired.yaml", []byte(canaryDoc))
	if err != nil {
		t.Fatal(err)
	}
	other, err := Parse("desired.yaml", []byte(strings.Replace(canaryDoc, "setWeight: 50", "setWeight: 40", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Spec.Hash() == other.Spec.Hash() {
		t.Error("changing a canary step kept the spec hash")
	}
	b, err := json.Marshal(doc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Hash() != doc.Spec.Hash() {
		t.Errorf("JSON round trip changed the hash:\n%s", b)
	}
	if !back.Strategy.Steps[3].Pause.Indefinite || back.Strategy.Steps[1].Pause.Duration.Duration != 2*time.Minute {
		t.Errorf("pauses after the round trip: %+v %+v", back.Strategy.Steps[1].Pause, back.Strategy.Steps[3].Pause)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Canary strategy: the standby gets a growing share of real traffic, step
// by step, while an analysis compares it with the stable color on live
// metrics. The vocabulary is Argo Rollouts' (steps, setWeight, pause,
// analysis, failureLimit) where a user would look for it there.

// Sticky values of strategy.sticky.
const (
	StickyUser = "user" // a user id always lands on the same color
	StickyNone = "none" // every request is split by weight
)

// Canary limits, inclusive.
const (
	MaxCanarySteps    = 32
	MaxPause          = 24 * time.Hour
	MinInterval       = time.Second
	MaxInterval       = time.Hour
	MaxMinRequests    = 1_000_000
	MaxFailureLimit   = 100
	MaxCanaryMetrics  = 16
	MaxPromQueryBytes = 4096
)

// Canary defaults, applied by SetDefaults when the strategy is canary.
var (
	DefaultCanarySteps = []CanaryStep{
		{SetWeight: intPtr(10)}, {Pause: &Pause{Duration: Duration{2 * time.Minute}}},
		{SetWeight: intPtr(50)}, {Pause: &Pause{Duration: Duration{2 * time.Minute}}},
	}
	DefaultAnalysisInterval = 15 * time.Second
	DefaultMinRequests      = 20
	DefaultFailureLimit     = 2
	DefaultCanaryMetrics    = []Metric{
		{ErrorRate: &Threshold{Max: floatPtr(0.01)}},
		{LatencyP95: &Threshold{MaxRatio: floatPtr(1.5)}},
	}
)

// CanaryStep is one step of a canary: exactly one of SetWeight (the
// percentage of traffic the canary gets from now on) or Pause.
type CanaryStep struct {
	SetWeight *int   `yaml:"setWeight,omitempty" json:"setWeight,omitempty"`
	Pause     *Pause `yaml:"pause,omitempty" json:"pause,omitempty"`
}

// Pause holds the canary at its weight: for Duration, or, when Indefinite
// (`pause: {}`), until `zdml promote`. The analysis keeps running during a
// pause, and a timed pause ends only once a window passed.
type Pause struct {
	Duration   Duration
	Indefinite bool
}

// UnmarshalYAML accepts `pause: 2m`, `pause: {duration: 2m}` and `pause: {}`.
func (p *Pause) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return p.Duration.UnmarshalYAML(n)
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			*p = Pause{Indefinite: true}
			return nil
		}
		if len(n.Content) != 2 || n.Content[0].Value != "duration" {
			return fmt.Errorf("want a duration such as \"2m\", {duration: 2m}, or {} to wait for zdml promote")
		}
		return p.Duration.UnmarshalYAML(n.Content[1])
	}
	return fmt.Errorf("want a duration such as \"2m\", {duration: 2m}, or {} to wait for zdml promote")
}

// MarshalYAML writes `2m0s`, or {} for an indefinite pause.
func (p Pause) MarshalYAML() (any, error) {
	if p.Indefinite {
		return map[string]string{}, nil
	}
	return p.Duration.String(), nil
}

// MarshalJSON writes {"duration":"2m0s"}, or {} for an indefinite pause.
func (p Pause) MarshalJSON() ([]byte, error) {
	if p.Indefinite {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]Duration{"duration": p.Duration})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Pause) UnmarshalJSON(b []byte) error {
	var m map[string]Duration
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	d, ok := m["duration"]
	*p = Pause{Duration: d, Indefinite: !ok}
	return nil
}

// String is "2m0s" or "until promoted".
func (p Pause) String() string {
	if p.Indefinite {
		return "until promoted"
	}
	return p.Duration.String()
}

// Analysis judges the canary against the stable color every Interval, on
// the same window of both colors' own metrics (no Prometheus needed). A
// window with fewer than MinRequests canary requests, or a metric that is
// NaN, is inconclusive: never a pass, never a fail. More than FailureLimit
// failed windows abort the canary.
type Analysis struct {
	Interval     Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	MinRequests  int      `yaml:"minRequests,omitempty" json:"minRequests,omitempty"`
	FailureLimit int      `yaml:"failureLimit,omitempty" json:"failureLimit,omitempty"`
	Metrics      []Metric `yaml:"metrics,omitempty" json:"metrics,omitempty"`
}

// Metric is one analysis metric: exactly one of its fields is set.
//   - errorRate: the canary's share of 5xx answers, timeouts and cut
//     streams in the window (max, a fraction).
//   - latencyP95, ttftP95: the canary's p95 request latency and time to
//     first token, in seconds (max) or divided by the stable color's over
//     the same window (maxRatio).
//   - tokensPerSecond: the canary's mean generation speed (min) or divided
//     by the stable color's (minRatio).
//   - prometheus: a PromQL query, for a reconciler given a Prometheus
//     address, bounded by max and/or min.
type Metric struct {
	ErrorRate       *Threshold  `yaml:"errorRate,omitempty" json:"errorRate,omitempty"`
	LatencyP95      *Threshold  `yaml:"latencyP95,omitempty" json:"latencyP95,omitempty"`
	TTFTP95         *Threshold  `yaml:"ttftP95,omitempty" json:"ttftP95,omitempty"`
	TokensPerSecond *Threshold  `yaml:"tokensPerSecond,omitempty" json:"tokensPerSecond,omitempty"`
	Prometheus      *PromMetric `yaml:"prometheus,omitempty" json:"prometheus,omitempty"`
}

// Threshold bounds a metric: absolute (Max, Min) or relative to the stable
// color (MaxRatio, MinRatio). Which ones apply depends on the metric.
type Threshold struct {
	Max      *float64 `yaml:"max,omitempty" json:"max,omitempty"`
	Min      *float64 `yaml:"min,omitempty" json:"min,omitempty"`
	MaxRatio *float64 `yaml:"maxRatio,omitempty" json:"maxRatio,omitempty"`
	MinRatio *float64 `yaml:"minRatio,omitempty" json:"minRatio,omitempty"`
}

// PromMetric is a PromQL query that must return one number. In the query,
// {{canary}} and {{stable}} are replaced by the colors and {{interval}} by
// the analysis interval (e.g. "15s"), as Flagger's metric templates do.
type PromMetric struct {
	Query string   `yaml:"query" json:"query"`
	Max   *float64 `yaml:"max,omitempty" json:"max,omitempty"`
	Min   *float64 `yaml:"min,omitempty" json:"min,omitempty"`
}

// Metric names, as written in desired.yaml.
const (
	MetricErrorRate       = "errorRate"
	MetricLatencyP95      = "latencyP95"
	MetricTTFTP95         = "ttftP95"
	MetricTokensPerSecond = "tokensPerSecond"
	MetricPrometheus      = "prometheus"
)

// Name is the metric's name as written in desired.yaml ("" when none is set).
func (m Metric) Name() string {
	switch {
	case m.ErrorRate != nil:
		return MetricErrorRate
	case m.LatencyP95 != nil:
		return MetricLatencyP95
	case m.TTFTP95 != nil:
		return MetricTTFTP95
	case m.TokensPerSecond != nil:
		return MetricTokensPerSecond
	case m.Prometheus != nil:
		return MetricPrometheus
	}
	return ""
}

// Bound is the metric's threshold; for prometheus, Max and Min only.
func (m Metric) Bound() Threshold {
	switch {
	case m.ErrorRate != nil:
		return *m.ErrorRate
	case m.LatencyP95 != nil:
		return *m.LatencyP95
	case m.TTFTP95 != nil:
		return *m.TTFTP95
	case m.TokensPerSecond != nil:
		return *m.TokensPerSecond
	case m.Prometheus != nil:
		return Threshold{Max: m.Prometheus.Max, Min: m.Prometheus.Min}
	}
	return Threshold{}
}

// String writes the bound as a user reads it: "max 0.01", "maxRatio 1.5".
func (t Threshold) String() string {
	var parts []string
	for _, b := range []struct {
		name string
		v    *float64
	}{{"max", t.Max}, {"min", t.Min}, {"maxRatio", t.MaxRatio}, {"minRatio", t.MinRatio}} {
		if b.v != nil {
			parts = append(parts, fmt.Sprintf("%s %g", b.name, *b.v))
		}
	}
	return strings.Join(parts, ", ")
}

// Weights lists the canary's setWeight values in step order.
func (s Strategy) Weights() []int {
	var out []int
	for _, st := range s.Steps {
		if st.SetWeight != nil {
			out = append(out, *st.SetWeight)
		}
	}
	return out
}

func intPtr(v int) *int           { return &v }
func floatPtr(v float64) *float64 { return &v }
func isFinite(v float64) bool     { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// setCanaryDefaults fills a canary strategy's steps, stickiness and
// analysis where the file left them out.
func (d *Document) setCanaryDefaults() {
	s := &d.Spec.Strategy
	if s.Type != StrategyCanary {
		return
	}
	if s.Steps == nil && !d.written("spec.strategy.steps") {
		s.Steps = append([]CanaryStep(nil), DefaultCanarySteps...)
	}
	setString(d, "spec.strategy.sticky", &s.Sticky, StickyUser)
	if s.Analysis == nil {
		s.Analysis = &Analysis{}
	}
	a := s.Analysis
	setDuration(d, "spec.strategy.analysis.interval", &a.Interval, DefaultAnalysisInterval)
	setInt(d, "spec.strategy.analysis.minRequests", &a.MinRequests, DefaultMinRequests)
	if a.FailureLimit == 0 && !d.written("spec.strategy.analysis.failureLimit") {
		a.FailureLimit = DefaultFailureLimit
	}
	if a.Metrics == nil && !d.written("spec.strategy.analysis.metrics") {
		a.Metrics = append([]Metric(nil), DefaultCanaryMetrics...)
	}
}

// canary validates the canary fields: only a canary strategy may have
// them, and a canary's steps, stickiness and analysis must make sense.
func (v *validator) canary() {
	s := v.doc.Spec.Strategy
	if s.Type != StrategyCanary {
		for _, f := range []string{"steps", "analysis", "sticky"} {
			if v.doc.written("spec.strategy." + f) {
				v.fail("spec.strategy."+f, "applies only to strategy %s", StrategyCanary)
			}
		}
		return
	}
	if !v.badUnder("spec.strategy.steps") {
		v.canarySteps(s.Steps)
	}
	switch s.Sticky {
	case StickyUser, StickyNone:
	default:
		v.fail("spec.strategy.sticky", "%q: want %s or %s", s.Sticky, StickyUser, StickyNone)
	}
	if a := s.Analysis; a != nil && !v.badUnder("spec.strategy.analysis") {
		v.analysis(*a)
	}
}

func (v *validator) canarySteps(steps []CanaryStep) {
	if len(steps) == 0 || len(steps) > MaxCanarySteps {
		v.fail("spec.strategy.steps", "want 1 to %d steps, got %d", MaxCanarySteps, len(steps))
		return
	}
	for i, st := range steps {
		field := fmt.Sprintf("spec.strategy.steps[%d]", i)
		switch {
		case (st.SetWeight == nil) == (st.Pause == nil):
			v.fail(field, "want exactly one of setWeight or pause")
		case st.SetWeight != nil && (*st.SetWeight < 1 || *st.SetWeight > 100):
			v.fail(field+".setWeight", "%d is out of range (want 1 to 100 percent)", *st.SetWeight)
		case st.Pause != nil && !st.Pause.Indefinite:
			v.duration(field+".pause", st.Pause.Duration.Duration, time.Second, MaxPause)
		}
	}
}

func (v *validator) analysis(a Analysis) {
	const base = "spec.strategy.analysis"
	v.duration(base+".interval", a.Interval.Duration, MinInterval, MaxInterval)
	v.intRange(base+".minRequests", a.MinRequests, 1, MaxMinRequests)
	v.intRange(base+".failureLimit", a.FailureLimit, 0, MaxFailureLimit)
	if len(a.Metrics) == 0 || len(a.Metrics) > MaxCanaryMetrics {
		v.fail(base+".metrics", "want 1 to %d metrics, got %d", MaxCanaryMetrics, len(a.Metrics))
	}
	for i, m := range a.Metrics {
		field := fmt.Sprintf("%s.metrics[%d]", base, i)
		if err := checkMetric(m); err != nil {
			v.fail(field, "%v", err)
		}
	}
}

// allowedBounds lists, per metric, the bounds it accepts.
var allowedBounds = map[string][]string{
	MetricErrorRate:       {"max"},
	MetricLatencyP95:      {"max", "maxRatio"},
	MetricTTFTP95:         {"max", "maxRatio"},
	MetricTokensPerSecond: {"min", "minRatio"},
	MetricPrometheus:      {"max", "min"},
}

// checkMetric checks that exactly one metric is named, that its bounds
// are ones it accepts, and that each bound is a finite, sensible number.
func checkMetric(m Metric) error {
	set := 0
	for _, p := range []bool{m.ErrorRate != nil, m.LatencyP95 != nil, m.TTFTP95 != nil, m.TokensPerSecond != nil, m.Prometheus != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		return errors.New("want exactly one of errorRate, latencyP95, ttftP95, tokensPerSecond or prometheus")
	}
	name, b := m.Name(), m.Bound()
	allowed, n := allowedBounds[name], 0
	for _, g := range []struct {
		bound string
		val   *float64
	}{{"max", b.Max}, {"min", b.Min}, {"maxRatio", b.MaxRatio}, {"minRatio", b.MinRatio}} {
		if g.val == nil {
			continue
		}
		n++
		if !slices.Contains(allowed, g.bound) {
			return fmt.Errorf("%s: %s does not apply (want %s)", name, g.bound, strings.Join(allowed, " or "))
		}
		if !isFinite(*g.val) || (*g.val < 0 && name != MetricPrometheus) {
			return fmt.Errorf("%s: %s %v is not a finite, non-negative number", name, g.bound, *g.val)
		}
	}
	if n == 0 {
		return fmt.Errorf("%s: want a bound (%s)", name, strings.Join(allowed, " or "))
	}
	if name == MetricErrorRate && *b.Max > 1 {
		return fmt.Errorf("errorRate: max %v is a fraction of requests (want 0 to 1)", *b.Max)
	}
	if p := m.Prometheus; p != nil && (strings.TrimSpace(p.Query) == "" || len(p.Query) > MaxPromQueryBytes) {
		return fmt.Errorf("prometheus: want a query of 1 to %d bytes", MaxPromQueryBytes)
	}
	return nil
}

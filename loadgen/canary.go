package loadgen

import (
	"fmt"
	"math"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
	"go.yaml.in/yaml/v3"
)

// CanaryPlan is a scenario deploy's canary: desired.yaml's own
// spec.strategy fields for type canary.
type CanaryPlan struct {
	Steps    []spec.CanaryStep `yaml:"steps,omitempty"`
	Analysis *spec.Analysis    `yaml:"analysis,omitempty"`
	Sticky   string            `yaml:"sticky,omitempty"`
}

// canaryKeys are the strategy fields only a canary has.
var canaryKeys = []string{"steps", "analysis", "sticky"}

// setCanary writes plan into a strategy mapping for strategy canary, and
// removes the canary's fields for any other strategy.
func setCanary(strategy *yaml.Node, typ string, plan *CanaryPlan) error {
	for _, k := range canaryKeys {
		removeKey(strategy, k)
	}
	if typ != spec.StrategyCanary || plan == nil {
		return nil
	}
	var n yaml.Node
	if err := n.Encode(plan); err != nil {
		return err
	}
	strategy.Content = append(strategy.Content, n.Content...)
	return nil
}

// CanaryDecision is one analysis window as the reconciler's events record
// it (docs/architecture.md, "Canary").
type CanaryDecision struct {
	At             time.Time `json:"at"`
	Weight         int       `json:"weight"`
	Share          *float64  `json:"share"` // the canary's share at the servers; nil without requests
	CanaryRequests float64   `json:"canary_requests"`
	StableRequests float64   `json:"stable_requests"`
	Verdict        string    `json:"verdict"`
	Reason         string    `json:"reason"`
}

// CanaryTrace is a canary deploy as the run saw it: the weight over time,
// and each analysis window with the share of requests the clients saw the
// canary answer, against the configured weight.
type CanaryTrace struct {
	Color   string // the canary color
	Spans   []WeightSpan
	Windows []CanaryWindow
	// MaxWeight is the highest weight the canary had before it was
	// promoted or aborted.
	MaxWeight int
	// FirstFail is the first failed window; Abort the failed window the
	// canary was aborted on (the one past failureLimit: after FirstFail
	// when failureLimit > 0); WeightZero when the rollback had routed every
	// request back to the stable color (zero when none).
	FirstFail, Abort, WeightZero time.Time
}

// WeightSpan is a stretch of time at one canary weight.
type WeightSpan struct {
	From, To time.Time
	Weight   int
}

// CanaryWindow is one analysis window: the reconciler's decision, and what
// the clients saw in the same stretch of time.
type CanaryWindow struct {
	From, To       time.Time
	Decision       CanaryDecision
	ClientRequests int     // user requests that started in the window and got an answer
	ClientShare    float64 // of which the canary answered (NaN without any)
}

// canaryTrace builds the trace of a canary deploy, or nil for another one.
func canaryTrace(w *DeployWindow, recs []Record, end time.Time) *CanaryTrace {
	var t *CanaryTrace
	spanStart, weight := time.Time{}, -1
	closeSpan := func(at time.Time) {
		if weight >= 0 && at.After(spanStart) {
			t.Spans = append(t.Spans, WeightSpan{From: spanStart, To: at, Weight: weight})
		}
	}
	for _, e := range w.Events {
		if e.Step == StepCanary && t == nil {
			t = &CanaryTrace{Color: e.Color}
		}
		if t == nil {
			continue
		}
		switch {
		case e.Step == StepCanary && e.Analysis != nil:
			t.addWindow(*e.Analysis, spanStart, recs)
			if e.Analysis.Verdict == "fail" && weight > 0 {
				if t.FirstFail.IsZero() {
					t.FirstFail = e.Time
				}
				t.Abort = e.Time // the last failed window before weight 0
			}
		case e.Step == StepCanary && e.Weight != nil && *e.Weight == 0 && weight > 0:
			closeSpan(e.Time) // the abort: every request back on the stable color
			t.WeightZero, weight = e.Time, -1
		case e.Step == StepCanary && e.Weight != nil && *e.Weight != weight && *e.Weight > 0:
			closeSpan(e.Time)
			spanStart, weight = e.Time, *e.Weight
			t.MaxWeight = max(t.MaxWeight, weight)
		case (e.Step == StepCanary || e.Step == StepRollback || e.Step == StepSwap) && e.Phase == PhaseEnd:
			// promoted (all traffic to the canary) or rolled back: no split
			if weight >= 0 {
				closeSpan(e.Time)
				weight = -1
			}
		}
	}
	if t != nil {
		closeSpan(end)
	}
	return t
}

// addWindow records a decision with the clients' share over the same
// stretch: from the previous window of the same weight (or the weight's
// start) to the decision.
func (t *CanaryTrace) addWindow(d CanaryDecision, spanStart time.Time, recs []Record) {
	from := spanStart
	if n := len(t.Windows); n > 0 && t.Windows[n-1].To.After(from) {
		from = t.Windows[n-1].To
	}
	cw := CanaryWindow{From: from, To: d.At, Decision: d}
	canary := 0
	for _, r := range recs {
		if r.Start.Before(from) || !r.Start.Before(d.At) || r.Color == "" {
			continue
		}
		cw.ClientRequests++
		if r.Color == t.Color {
			canary++
		}
	}
	cw.ClientShare = math.NaN()
	if cw.ClientRequests > 0 {
		cw.ClientShare = float64(canary) / float64(cw.ClientRequests)
	}
	t.Windows = append(t.Windows, cw)
}

// canaryValue measures a canary threshold: the highest weight, how many
// windows were judged (failed, passed), the seconds from the window the
// canary was aborted on to weight 0 (to_weight_zero: the abort itself),
// and from the first failed window to weight 0 (first_fail_to_weight_zero:
// the abort and the failed windows failureLimit waits for before it).
func (a *Analysis) canaryValue(agg string) (float64, error) {
	t := a.Canary
	if t == nil {
		return 0, fmt.Errorf("no canary in this run")
	}
	count := func(verdict string) float64 {
		n := 0
		for _, w := range t.Windows {
			if verdict == "" || w.Decision.Verdict == verdict {
				n++
			}
		}
		return float64(n)
	}
	switch agg {
	case "max_weight":
		return float64(t.MaxWeight), nil
	case "windows":
		return count(""), nil
	case "failed_windows":
		return count("fail"), nil
	case "passed_windows":
		return count("pass"), nil
	}
	if t.FirstFail.IsZero() || t.WeightZero.IsZero() {
		return 0, fmt.Errorf("the canary was not aborted by a failed window")
	}
	if agg == "first_fail_to_weight_zero" {
		return t.WeightZero.Sub(t.FirstFail).Seconds(), nil
	}
	return t.WeightZero.Sub(t.Abort).Seconds(), nil
}

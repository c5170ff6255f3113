package reconciler

import (
	"fmt"
	"math"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/spec"
)

// CanaryReport is a canary in a status report, as `kubectl argo rollouts
// get rollout` shows one: the step, the weight, and each metric's last
// value against its bound.
type CanaryReport struct {
	DeployID string     `json:"deploy_id"`
	Canary   spec.Color `json:"canary"`
	Stable   spec.Color `json:"stable"`
	Version  string     `json:"version,omitempty"`
	Status   string     `json:"status"`
	Message  string     `json:"message,omitempty"`
	// Step is 1-based; Steps is how many there are; StepText says what
	// the current one is ("setWeight 50", "pause 2m0s").
	Step     int    `json:"step"`
	Steps    int    `json:"steps"`
	StepText string `json:"step_text,omitempty"`
	Weight   int    `json:"weight"`
	// Failures of FailureLimit (more abort the canary).
	Failures     int                `json:"failures"`
	FailureLimit int                `json:"failure_limit"`
	Windows      int                `json:"windows"`
	Last         *analysis.Decision `json:"last,omitempty"`
	Metrics      []MetricReport     `json:"metrics,omitempty"`
}

// MetricReport is one analysis metric: its bound, and its value in the
// last window.
type MetricReport struct {
	Metric  string           `json:"metric"`
	Bound   string           `json:"bound"`
	Value   analysis.Number  `json:"value"`
	Stable  analysis.Number  `json:"stable,omitempty"`
	Ratio   analysis.Number  `json:"ratio,omitempty"`
	Verdict analysis.Verdict `json:"verdict,omitempty"`
	Reason  string           `json:"reason,omitempty"`
}

// canaryReport builds the canary part of the status report, or nil.
func (r *Reconciler) canaryReport() *CanaryReport {
	c, p := r.state.Canary, r.state.InProgress
	if c == nil || p == nil || p.DeployID != c.DeployID || p.Target.Spec == nil {
		return nil
	}
	s := p.Target.Spec.Strategy
	rep := &CanaryReport{DeployID: c.DeployID, Canary: c.Canary, Stable: c.Stable, Version: p.Target.Version,
		Status: c.Status, Message: c.Message, Step: min(c.Step+1, len(s.Steps)), Steps: len(s.Steps),
		Weight: c.Weight, Failures: c.Failures, Windows: len(c.Windows), Last: c.Last()}
	if c.Step < len(s.Steps) {
		rep.StepText = stepText(s.Steps[c.Step])
	}
	if s.Analysis == nil {
		return rep
	}
	rep.FailureLimit = s.Analysis.FailureLimit
	for i, m := range s.Analysis.Metrics {
		nan := analysis.Number(math.NaN())
		mr := MetricReport{Metric: m.Name(), Bound: m.Bound().String(), Value: nan, Stable: nan, Ratio: nan}
		if last := rep.Last; last != nil && i < len(last.Results) && last.Results[i].Metric == mr.Metric {
			res := last.Results[i]
			mr.Value, mr.Stable, mr.Ratio, mr.Verdict, mr.Reason = res.Value, res.Stable, res.Ratio, res.Verdict, res.Reason
		}
		rep.Metrics = append(rep.Metrics, mr)
	}
	return rep
}

func stepText(st spec.CanaryStep) string {
	switch {
	case st.SetWeight != nil:
		return fmt.Sprintf("setWeight %d", *st.SetWeight)
	case st.Pause != nil && st.Pause.Indefinite:
		return "pause until promoted"
	case st.Pause != nil:
		return "pause " + st.Pause.Duration.Duration.Round(time.Second).String()
	}
	return ""
}

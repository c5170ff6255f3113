package reports

import (
	"fmt"

	"github.com/zero-downtime-ml/zdml/loadgen"
)

// Kinds of Timing.
const (
	TimingRun     = "run"     // no deploy: Seconds is the run's length
	TimingDeploy  = "deploy"  // Seconds is the deploy's, first step to last
	TimingPrewarm = "prewarm" // Seconds is the warm-up, FastDeploySeconds the swap
	TimingSeries  = "series"  // Deploys deploys, Seconds in their windows
)

// Timing is how long a run's deploys took, as latest.md's duration column
// gives it.
type Timing struct {
	Kind              string  `json:"kind"`
	Seconds           float64 `json:"seconds"`
	FastDeploySeconds float64 `json:"fast_deploy_seconds,omitempty"`
	Deploys           int     `json:"deploys,omitempty"`
}

// String is "6.2 s", "2.3 s prewarm + 3.1 s fast deploy", "20 deploys,
// 95.0 s in windows" or "40.5 s (no deploy)".
func (t Timing) String() string {
	switch t.Kind {
	case TimingDeploy:
		return seconds(t.Seconds)
	case TimingPrewarm:
		return seconds(t.Seconds) + " prewarm + " + seconds(t.FastDeploySeconds) + " fast deploy"
	case TimingSeries:
		return fmt.Sprintf("%d deploys, %s in windows", t.Deploys, seconds(t.Seconds))
	}
	return seconds(t.Seconds) + " (no deploy)"
}

func (t Timing) valid() error {
	switch t.Kind {
	case TimingRun, TimingDeploy, TimingPrewarm, TimingSeries:
		return nil
	}
	return fmt.Errorf("duration kind %q is none of %s, %s, %s, %s", t.Kind, TimingRun, TimingDeploy, TimingPrewarm, TimingSeries)
}

// timing is the run's series, its deploy, or the run itself.
func (r *Report) timing() Timing {
	a := r.Analysis
	if s := a.Series; s != nil {
		return Timing{Kind: TimingSeries, Deploys: len(s.Windows), Seconds: s.WindowTime().Seconds()}
	}
	if d := a.Deploy; d != nil && len(d.Events) > 0 {
		return deployTiming(d)
	}
	return Timing{Kind: TimingRun, Seconds: a.End.Sub(a.Start).Seconds()}
}

func deployTiming(d *loadgen.DeployWindow) Timing {
	if !d.PromoteStart.IsZero() && !d.WarmEnd.IsZero() {
		return Timing{Kind: TimingPrewarm, Seconds: d.WarmEnd.Sub(d.Start).Seconds(), FastDeploySeconds: d.End.Sub(d.PromoteStart).Seconds()}
	}
	return Timing{Kind: TimingDeploy, Seconds: d.Duration().Seconds()}
}

// DeployDuration is the deploy's length; for a prewarm, the prewarm and the
// fast deploy apart ("2.3 s prewarm + 3.1 s fast deploy"), as the seed
// reported them.
func DeployDuration(d *loadgen.DeployWindow) string { return deployTiming(d).String() }

// seconds writes seconds with one decimal: "12.3 s".
func seconds(s float64) string { return fmt.Sprintf("%.1f s", s) }

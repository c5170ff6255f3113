package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/spec"
)

// StepCanary is the step of a canary deploy that shifts traffic to the
// standby step by step while the analysis judges it.
const StepCanary = "canary"

// Errors that end a canary before its last step.
var (
	// errCanaryAborted is `zdml abort`.
	errCanaryAborted = errors.New("canary aborted by zdml abort")
	// errSuperseded is a newer desired state committed mid-canary: the
	// canary is rolled back, not quarantined, and the new one deploys.
	errSuperseded = errors.New("superseded by a newer desired state")
)

// canarySteps are blue/green's steps with the swap replaced by the canary:
// the old color drains and stops only once the canary was promoted to
// all traffic.
func (r *Reconciler) canarySteps() []step {
	return []step{
		{StepPreflight, r.stepPreflight}, {StepStart, r.stepStart}, {StepReady, r.stepReady},
		{StepWarmup, r.stepWarmup}, {StepQuality, r.stepQuality}, {StepCanary, r.stepCanary}, {StepDrain, r.stepDrain},
		{StepVerify, r.stepVerify}, {StepStop, r.stepStop}, {StepRecord, r.stepRecord},
	}
}

// stepCanary runs spec.strategy.steps: each setWeight is a verified nginx
// reload giving the standby that share of user traffic (recorded in
// state.json first), each pause holds it while the analysis compares the
// two colors window by window. It resumes at the step and weight
// state.json records. More failed windows than failureLimit, `zdml
// abort` or a newer desired state end it with an error, and the rollback
// sets the weight to 0 at once; after the last step (or `zdml promote`)
// the standby gets all traffic, as a swap. It changes nginx's split, the
// standby's priority and state.json's canary record.
func (r *Reconciler) stepCanary(ctx context.Context, d *deploy) error {
	if d.from == "" {
		d.note = "first deploy: no stable color to compare with, swapped; "
		return r.stepSwap(ctx, d)
	}
	if r.superseded(ctx, d) {
		return errSuperseded // e.g. a reconciler restarted after a new commit
	}
	c := r.state.Canary
	if c == nil || c.DeployID != d.id {
		c = &CanaryState{DeployID: d.id, Canary: d.to, Stable: d.from, Sticky: d.target.Spec.Strategy.Sticky,
			StepStarted: time.Now().UTC(), Status: CanaryProgressing}
		r.state.Canary = c
	}
	d.swapped = true
	r.state.InProgress = d.progress(StepCanary)
	if err := r.saveStateErr(); err != nil {
		return err
	}
	// The standby serves users from the first weight: at low priority it
	// would be judged slower than it is.
	note := r.raisePriority(ctx, d.to)
	steps := d.target.Spec.Strategy.Steps
	run := r.startAnalysis(ctx, d, c.Weight)
	defer func() { run.stop() }()
	for c.Step < len(steps) && c.Status != CanaryPromoting {
		st := steps[c.Step]
		if st.SetWeight != nil {
			if err := r.setCanaryWeight(ctx, d, c, *st.SetWeight); err != nil {
				return err
			}
			run.stop()
			run = r.startAnalysis(ctx, d, c.Weight)
		} else if err := r.canaryPause(ctx, d, c, *st.Pause, run); err != nil {
			return err
		}
		if c.Status == CanaryPromoting {
			break
		}
		c.Step, c.StepStarted, c.Passed = c.Step+1, time.Now().UTC(), false
		if err := r.saveStateErr(); err != nil {
			return err
		}
	}
	run.stop()
	if err := r.promoteCanary(ctx, d, c); err != nil {
		return err
	}
	d.note = fmt.Sprintf("%d steps, %d analysis windows (%d failed); %s", len(steps), len(c.Windows), c.Failures, note)
	return nil
}

// setCanaryWeight gives the canary weight percent of user traffic: the
// weight is recorded, then nginx reloads (verified) and both sides of the
// split are checked through the public listener.
func (r *Reconciler) setCanaryWeight(ctx context.Context, d *deploy, c *CanaryState, weight int) error {
	c.Weight, c.Status, c.Message = weight, CanaryProgressing, fmt.Sprintf("setWeight %d", weight)
	if err := r.saveStateErr(); err != nil {
		return err
	}
	t0 := time.Now()
	outcome, err := r.routeTo(ctx, d.from, d.fromVer, false)
	if err != nil {
		return fmt.Errorf("setWeight %d: %w", weight, err)
	}
	if err := r.proxy.VerifyCanary(ctx, d.to, d.target.Version); err != nil {
		return fmt.Errorf("setWeight %d: %w", weight, err)
	}
	r.metrics.canaryWeight.Set(float64(weight))
	r.canaryEvent(d, c, fmt.Sprintf("setWeight %d: nginx %s, verified in %s", weight, outcome, time.Since(t0).Round(time.Millisecond)), nil)
	r.publish(observation{})
	return nil
}

// promoteCanary gives the canary all traffic: the plain config routing to
// it, as a swap. The promotion is recorded first, so a reconciler killed
// in between finishes it instead of starting the canary over.
func (r *Reconciler) promoteCanary(ctx context.Context, d *deploy, c *CanaryState) error {
	c.Status, c.Message = CanaryPromoting, "promoting to 100%"
	if err := r.saveStateErr(); err != nil {
		return err
	}
	r.canaryEvent(d, c, "promote: all traffic to "+string(d.to), nil)
	if err := r.stepSwap(ctx, d); err != nil {
		return err
	}
	r.state.Canary = nil
	r.metrics.canaryWeight.Set(0)
	return r.saveStateErr()
}

// canaryEvent records a canary change in events.jsonl, with the weight and
// the analysis decision when there is one.
func (r *Reconciler) canaryEvent(d *deploy, c *CanaryState, msg string, dec *analysis.Decision) {
	w := c.Weight
	r.events.Emit(Event{DeployID: d.id, Step: StepCanary, Phase: PhaseInfo, Color: d.to, Version: d.target.Version,
		Commit: d.target.Commit, Message: msg, Weight: &w, Analysis: dec})
}

// checkCanary refuses what a canary's analysis cannot judge: a PromQL
// metric without a Prometheus address.
func (r *Reconciler) checkCanary(s *spec.Spec) error {
	if !canaryTarget(s) || s.Strategy.Analysis == nil || r.cfg.PrometheusURL != "" {
		return nil
	}
	for i, m := range s.Strategy.Analysis.Metrics {
		if m.Prometheus != nil {
			return fmt.Errorf("spec.strategy.analysis.metrics[%d]: a prometheus metric needs a Prometheus address (zdml reconcile --prometheus-url, or ZDML_PROMETHEUS_URL)", i)
		}
	}
	return nil
}

// canaryTarget reports whether spec s deploys as a canary.
func canaryTarget(s *spec.Spec) bool { return s != nil && s.Strategy.Type == spec.StrategyCanary }

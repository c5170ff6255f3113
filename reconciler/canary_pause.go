package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/spec"
)

// statusTick is how often a waiting canary refreshes its status line.
const statusTick = time.Second

// canaryPause holds the canary at its weight. A timed pause ends once its
// duration is over and a window passed during it: too little traffic
// keeps it waiting (inconclusive), never promoting silently. A pause: {}
// waits for zdml resume (the next step) or zdml promote (all the way).
// Meanwhile it takes each analysis decision (failed windows beyond
// failureLimit end the canary), and answers the daemon's requests, since
// the daemon loop waits on this step: promote, pause, resume and
// maintenance are done here; abort and rollback cancel ctx.
func (r *Reconciler) canaryPause(ctx context.Context, d *deploy, c *CanaryState, p spec.Pause, run *analysisRun) error {
	if p.Indefinite {
		if !c.Paused {
			c.Paused = true
			if err := r.saveStateErr(); err != nil {
				return err
			}
		}
		r.canaryEvent(d, c, "pause until zdml resume or zdml promote", nil)
	}
	tick := time.NewTicker(statusTick)
	defer tick.Stop()
	for {
		if r.canaryStatus(c, p) {
			return nil
		}
		r.publish(observation{})
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case dec := <-run.decisions:
			if err := r.canaryDecision(d, c, dec); err != nil {
				return err
			}
		case req := <-r.requests:
			msg, err := r.canaryRequest(ctx, d, c, p, req.req)
			over := r.canaryStatus(c, p) // zdml status shows the request's effect once zdml answers
			r.publish(observation{})
			req.reply <- result{msg, err}
			if over {
				return nil
			}
		case <-r.wake:
			if r.superseded(ctx, d) {
				return errSuperseded
			}
		case <-tick.C:
		}
	}
}

// canaryStatus sets c's status for a pause p and reports whether the
// pause is over.
func (r *Reconciler) canaryStatus(c *CanaryState, p spec.Pause) bool {
	left := time.Until(c.StepStarted.Add(p.Duration.Duration))
	switch {
	case c.Status == CanaryPromoting:
		return true
	case c.Paused && p.Indefinite:
		c.Status, c.Message = CanaryPaused, fmt.Sprintf("at %d%%, paused: zdml resume for the next step, zdml promote for all traffic", c.Weight)
	case c.Paused:
		c.Status, c.Message = CanaryPaused, fmt.Sprintf("at %d%%, paused by zdml pause: zdml resume continues", c.Weight)
	case p.Indefinite:
		return true // resumed
	case left > 0:
		c.Status, c.Message = CanaryProgressing, fmt.Sprintf("at %d%%, pause %s: %s left", c.Weight, p, left.Round(time.Second))
	case !c.Passed:
		why := "no analysis window yet"
		if last := c.Last(); last != nil {
			why = last.Reason
		}
		c.Status, c.Message = CanaryInconclusive, fmt.Sprintf("at %d%%, pause over but no window passed yet (%s): waiting for traffic", c.Weight, why)
	default:
		return true
	}
	return false
}

// canaryDecision records one analysis window; it fails the canary when
// failed windows exceed failureLimit.
func (r *Reconciler) canaryDecision(d *deploy, c *CanaryState, dec analysis.Decision) error {
	a := d.target.Spec.Strategy.Analysis
	c.record(dec)
	switch dec.Verdict {
	case analysis.Pass:
		c.Passed = true
	case analysis.Fail:
		c.Failures++
	}
	r.metrics.canaryWindows.WithLabelValues(string(dec.Verdict)).Inc()
	msg := fmt.Sprintf("analysis at %d%% (canary share %.1f%% of %.0f requests): %s: %s", dec.Weight, 100*dec.Share,
		dec.CanaryRequests+dec.StableRequests, dec.Verdict, dec.Reason)
	r.canaryEvent(d, c, msg, &dec)
	if err := r.saveStateErr(); err != nil {
		return err
	}
	if dec.Verdict == analysis.Fail && c.Failures > a.FailureLimit {
		return fmt.Errorf("analysis failed %d windows (failureLimit %d) at %d%%: %s", c.Failures, a.FailureLimit, c.Weight, dec.Reason)
	}
	return nil
}

// canaryRequest answers a request that reached the daemon while the
// canary waits.
func (r *Reconciler) canaryRequest(ctx context.Context, d *deploy, c *CanaryState, p spec.Pause, req Request) (string, error) {
	switch req.Action {
	case ActionPromote:
		c.Status, c.Paused = CanaryPromoting, false
		r.canaryEvent(d, c, "zdml promote: skipping the remaining steps", nil)
		return fmt.Sprintf("canary %s promoted from %d%%: %s gets all traffic once the swap is verified", d.id, c.Weight, d.to), nil
	case ActionPause:
		c.Paused = true
		r.canaryEvent(d, c, "zdml pause", nil)
		return fmt.Sprintf("canary %s paused at %d%%; the analysis keeps running", d.id, c.Weight), r.saveStateErr()
	case ActionResume:
		if !c.Paused {
			return fmt.Sprintf("canary %s is not paused (%s)", d.id, c.Message), nil
		}
		c.Paused = false
		r.canaryEvent(d, c, "zdml resume", nil)
		return fmt.Sprintf("canary %s resumed at %d%%", d.id, c.Weight), r.saveStateErr()
	case ActionMaintenanceOn, ActionMaintenanceOff:
		return r.maintenance(ctx, req)
	}
	return "", fmt.Errorf("a canary (%s) is in progress at %d%%: zdml promote, zdml abort or zdml rollback first", d.id, c.Weight)
}

// superseded reports whether the desired state moved on from d's target.
func (r *Reconciler) superseded(ctx context.Context, d *deploy) bool {
	want, ok := r.readDesired(ctx)
	return ok && want.SpecHash != "" && want.SpecHash != d.target.SpecHash
}

package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// deployNow deploys the desired state now: `zdml deploy`. A quarantined
// spec is released first (a human asked for it), and a prewarm strategy
// is promoted even without autoPromote.
func (r *Reconciler) deployNow(ctx context.Context) (string, error) {
	if r.state.InProgress != nil {
		if err := r.resume(ctx, r.observe(ctx)); err != nil {
			return "", err
		}
	}
	if d := r.state.Desired; d != nil && r.state.RemoveQuarantine(d.SpecHash, d.Digest) {
		r.saveState()
	}
	if r.state.Retry != nil {
		r.state.Retry = nil // a human asked: deploy now, not at the next attempt
		r.saveState()
	}
	if d, err := r.cfg.Source.Read(ctx); err == nil && d.Err == nil {
		if r.state.RemoveQuarantine(revisionOf(d).SpecHash, "") {
			r.saveState()
		}
	}
	before := r.state.LastDeploy
	if err := r.reconcile(ctx, true); err != nil {
		return "", err
	}
	if r.state.DesiredError != "" {
		return "", errors.New(r.state.DesiredError)
	}
	if r.state.LastDeploy == before || r.state.LastDeploy == nil {
		return "already deployed: " + r.describeActive(), nil
	}
	return r.describeLast()
}

// prewarm starts and warms the standby with the desired state, without
// swapping: `zdml prewarm`.
func (r *Reconciler) prewarm(ctx context.Context) (string, error) {
	want, o, err := r.desiredForAction(ctx)
	if err != nil {
		return "", err
	}
	active := o.active
	if !o.running(active) {
		return "", errors.New("nothing is serving: deploy first (zdml deploy)")
	}
	if o.colors[active].ConfigHash == want.ConfigHash {
		return "", fmt.Errorf("%w: %s already serves %s", ErrNothingToDo, active, want.Version)
	}
	if r.prewarmed(o, active.Other(), want) {
		return fmt.Sprintf("%s is already warm with %s", active.Other(), want.Version), nil
	}
	d := r.newDeploy(KindPrewarm, want, active, active.Other(), o)
	if err := r.runDeploy(ctx, d, r.prewarmSteps()); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s is warm with %s; swap it in with zdml deploy-fast", d.to, want.Version), nil
}

// promote swaps a prewarmed standby in: `zdml deploy-fast`.
func (r *Reconciler) promote(ctx context.Context) (string, error) {
	want, o, err := r.desiredForAction(ctx)
	if err != nil {
		return "", err
	}
	active := o.active
	if !o.running(active) {
		return "", errors.New("nothing is serving: deploy first (zdml deploy)")
	}
	if !r.prewarmed(o, active.Other(), want) {
		return "", fmt.Errorf("no standby is warm with %s: run zdml prewarm first", want.Version)
	}
	d := r.newDeploy(KindPromote, want, active, active.Other(), o)
	if err := r.runDeploy(ctx, d, r.promoteSteps()); err != nil {
		return "", err
	}
	return r.describeLast()
}

// desiredForAction reads a usable, unquarantined desired state.
func (r *Reconciler) desiredForAction(ctx context.Context) (Revision, observation, error) {
	if r.state.InProgress != nil {
		if err := r.resume(ctx, r.observe(ctx)); err != nil {
			return Revision{}, observation{}, err
		}
	}
	o := r.observe(ctx)
	want, ok := r.readDesired(ctx)
	if !ok {
		if q, found := r.state.Quarantined(want.SpecHash, ""); found && want.SpecHash != "" {
			return want, o, fmt.Errorf("desired state is quarantined: %s (zdml deploy retries it)", q.Reason)
		}
		if r.state.DesiredError != "" {
			return want, o, errors.New(r.state.DesiredError)
		}
		return want, o, errors.New("no usable desired state")
	}
	return want, o, nil
}

// rollbackNow goes back to the previous version: `zdml rollback`. The
// spec being rolled back (and the desired one) is quarantined first, so
// that the daemon does not deploy it again. A deploy a killed reconciler
// left in progress is rolled back instead, unless it had passed verify:
// then its new version is committed, so it is finished first, and the
// previous version deployed back as usual. It answers what really
// happened: never "rolled back" unless the old version serves again.
func (r *Reconciler) rollbackNow(ctx context.Context) (string, error) {
	o := r.observe(ctx)
	if p := r.state.InProgress; p != nil && !p.Verified {
		d := r.deployOf(p, o)
		step, cause := p.Step, error(errRollbackRequested)
		if p.Failed != "" {
			step, cause = p.FailedStep, errors.New(p.Failed)
		}
		_ = r.fail(ctx, d, step, cause)
		if l := r.state.LastDeploy; l != nil && l.ID == p.DeployID && l.Outcome == OutcomeRolledBack {
			return fmt.Sprintf("interrupted %s %s rolled back: %s serves %s", p.Kind, p.DeployID, r.state.ActiveColor, l.FromVersion), nil
		}
		return "", fmt.Errorf("interrupted %s %s could not be rolled back: %s", p.Kind, p.DeployID, r.state.LastDeploy.Reason)
	}
	if p := r.state.InProgress; p != nil {
		if err := r.resume(ctx, o); err != nil {
			return "", fmt.Errorf("finish interrupted %s %s (it had passed verify) before rolling back: %w", p.Kind, p.DeployID, err)
		}
		o = r.observe(ctx)
	}
	prev := r.state.Previous
	if prev == nil || prev.Spec == nil {
		return "", errors.New("nothing to roll back to: no previous version is recorded")
	}
	active := o.active
	if !o.running(active) {
		return "", fmt.Errorf("the active color %q is not running", active)
	}
	reason := "rolled back by zdml rollback"
	now := time.Now().UTC()
	if dep := r.state.Deployed; dep != nil {
		r.state.AddQuarantine(Quarantine{SpecHash: dep.SpecHash, Commit: dep.Commit, Version: dep.Version, Reason: reason, At: now})
	}
	if d := r.state.Desired; d != nil && d.SpecHash != "" && d.SpecHash != prev.SpecHash {
		r.state.AddQuarantine(Quarantine{SpecHash: d.SpecHash, Commit: d.Commit, Version: d.Version, Reason: reason, At: now})
	}
	if err := r.saveStateErr(); err != nil {
		return "", fmt.Errorf("rollback not started: %w", err)
	}
	d := r.newDeploy(KindRollback, *prev, active, active.Other(), o)
	if err := r.runDeploy(ctx, d, r.blueGreenSteps()); err != nil {
		return "", err
	}
	return r.describeLast()
}

func (r *Reconciler) describeLast() (string, error) {
	l := r.state.LastDeploy
	if l == nil {
		return "", errors.New("no deploy recorded")
	}
	msg := fmt.Sprintf("%s %s %s: %s -> %s in %s", l.Kind, l.ID, l.Outcome, l.FromVersion, l.ToVersion, l.FinishedAt.Sub(l.StartedAt).Round(time.Millisecond))
	switch l.Outcome {
	case OutcomeSucceeded:
		return msg, nil
	case OutcomeDegraded:
		return msg + " (" + l.Reason + ")", nil // the new version serves
	}
	return "", errors.New(msg + ": " + l.Reason)
}

func (r *Reconciler) describeActive() string {
	if d := r.state.Deployed; d != nil {
		return fmt.Sprintf("%s serves %s %s", r.state.ActiveColor, d.Model, d.Version)
	}
	return "nothing deployed"
}

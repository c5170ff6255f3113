package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// resume continues a deploy that a previous reconciler left unfinished
// (it was killed): a deploy that had failed finishes its rollback; one
// that had swapped is finished; one that had not swapped is resumed when
// its target is still desired (its steps adopt what already runs), and
// rolled back when the desired state moved on.
func (r *Reconciler) resume(ctx context.Context, o observation) error {
	p := r.state.InProgress
	d := r.deployOf(p, o)
	if p.Target.Spec == nil {
		r.state.InProgress = nil
		r.saveState()
		return errors.New("interrupted deploy has no target spec; dropped")
	}
	d.strategy = p.Target.Spec.Strategy.Type
	r.events.Emit(Event{DeployID: d.id, Step: p.Step, Phase: PhaseInfo, Color: d.to, Version: d.target.Version,
		Message: fmt.Sprintf("reconciler restarted during %s %s at step %s (swapped: %v)", p.Kind, p.DeployID, p.Step, d.swapped)})
	d.log = r.log.With("deploy_id", d.id, "kind", d.kind)
	if p.Failed != "" {
		return r.fail(ctx, d, p.FailedStep, errors.New(p.Failed))
	}
	if !d.swapped && (d.kind == KindDeploy || d.kind == KindPrewarm || d.kind == KindPromote) {
		if want, ok := r.readDesired(ctx); !ok || want.SpecHash != d.target.SpecHash {
			return r.abandon(ctx, d)
		}
	}
	steps := r.stepsFor(d.kind, d.target.Spec)
	if d.verified {
		steps = stepsAfter(steps, StepVerify) // committed: only what follows verify is left
	}
	return r.runDeploy(ctx, d, steps)
}

// stepsAfter is the steps that follow the named one.
func stepsAfter(steps []step, name string) []step {
	for i, s := range steps {
		if s.name == name {
			return steps[i+1:]
		}
	}
	return steps
}

// deployOf rebuilds the deploy state.json records as in progress, as o
// shows it: swapped when nginx may route to its new color.
func (r *Reconciler) deployOf(p *Progress, o observation) *deploy {
	d := &deploy{id: p.DeployID, kind: p.Kind, target: p.Target, from: p.From, to: p.To, begun: p.StartedAt,
		swapped: p.Swapped || (o.route.Running && o.route.Active == p.To), started: true, priority: driver.PriorityLow, log: r.log,
		swappedAt: p.SwappedAt, retiredShutdown: p.RetiredShutdown, verified: p.Verified, degraded: p.Degraded}
	if cs := r.state.Colors[p.From]; cs != nil {
		d.fromVer = cs.Version
	}
	if d.kind == KindRollback || d.kind == KindSelfHeal {
		d.priority = driver.PriorityNormal
	}
	return d
}

func (r *Reconciler) stepsFor(kind string, target *spec.Spec) []step {
	if kind == KindDeploy && canaryTarget(target) {
		return r.canarySteps()
	}
	switch kind {
	case KindPrewarm:
		return r.prewarmSteps()
	case KindPromote:
		return r.promoteSteps()
	case KindSelfHeal:
		return r.healSteps()
	}
	return r.blueGreenSteps()
}

// abandon rolls back an interrupted deploy whose target is no longer desired.
func (r *Reconciler) abandon(ctx context.Context, d *deploy) error {
	reason := "interrupted by a reconciler restart; superseded by a newer desired state"
	r.event(d, StepRollback, PhaseStart, 0, reason)
	t0 := time.Now()
	outcome := OutcomeRolledBack
	if err := r.rollback(ctx, d); err != nil {
		outcome, reason = OutcomeFailed, reason+"; rollback: "+err.Error()
		r.event(d, StepRollback, PhaseFail, time.Since(t0), err.Error())
	} else {
		r.event(d, StepRollback, PhaseEnd, time.Since(t0), "")
	}
	d.steps = append(d.steps, StepTiming{Name: StepRollback, Outcome: outcome, Duration: time.Since(t0)})
	r.finish(d, outcome, r.state.InProgress.Step, reason)
	return nil
}

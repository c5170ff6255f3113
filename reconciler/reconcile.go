package reconciler

import (
	"context"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// reconcile is one level-triggered pass: observe, finish or undo an
// interrupted deploy, heal drift, read the desired state, and deploy it
// unless it is already served or quarantined. force promotes a prewarm
// even without autoPromote (`zdml deploy`).
func (r *Reconciler) reconcile(ctx context.Context, force bool) error {
	o := r.observe(ctx)
	r.publish(o)
	if r.waitSight(o) {
		return nil
	}
	if r.state.InProgress != nil {
		return r.resume(ctx, o)
	}
	if r.heal(ctx, o) {
		o = r.observe(ctx)
	}
	want, ok := r.readDesired(ctx)
	r.publish(o)
	if !ok || r.retryWaiting(want) {
		return nil
	}
	err := r.converge(ctx, o, want, force)
	r.publish(r.observe(ctx))
	return err
}

// waitSight reports whether o is blind (a runtime's API server does not
// answer): then nothing is healed, resumed or deployed on it, and the next
// pass (every resync) looks again, so an API server that is down for a
// while is waited out, not taken for colors that died. It logs when sight
// is lost and when it comes back.
func (r *Reconciler) waitSight(o observation) bool {
	if o.blind == nil {
		if r.blindSince != (time.Time{}) {
			r.log.Info("runtime reachable again", "after", time.Since(r.blindSince).Round(time.Millisecond))
			r.blindSince = time.Time{}
		}
		return false
	}
	if r.blindSince.IsZero() {
		r.blindSince = time.Now()
		r.log.Warn("runtime unreachable: observing again every resync, acting on nothing meanwhile", "err", o.blind)
	}
	return true
}

// readDesired reads the source. A file that does not parse is recorded
// once (history, events, quarantine by its digest) and never retried; a
// quarantined spec is not deployed. ok is true when want should be served.
func (r *Reconciler) readDesired(ctx context.Context) (want Revision, ok bool) {
	if r.cfg.Source == nil {
		return want, false
	}
	d, err := r.cfg.Source.Read(ctx)
	if err != nil {
		if r.state.DesiredError != err.Error() {
			r.log.Warn("read desired state", "source", r.cfg.Source, "err", err)
			r.state.DesiredError = err.Error()
			r.saveState()
		}
		return want, false
	}
	r.lastDesired = d
	if d.Err != nil {
		r.noteDesired(&Revision{Commit: d.Commit, Digest: d.Digest}, d.Err.Error())
		if _, q := r.state.Quarantined("", d.Digest); !q {
			r.rejectDesired(d)
		}
		return want, false
	}
	want = revisionOf(d)
	r.noteDesired(&want, "")
	_, q := r.state.Quarantined(want.SpecHash, "")
	return want, !q
}

// noteDesired records the desired state in state.json when it changed.
func (r *Reconciler) noteDesired(rev *Revision, errMsg string) {
	old := r.state.Desired
	if old != nil && old.Digest == rev.Digest && old.Commit == rev.Commit && r.state.DesiredError == errMsg {
		return
	}
	r.state.Desired, r.state.DesiredError = rev, errMsg
	r.saveState()
	r.log.Info("desired state", "commit", rev.Commit, "version", rev.Version, "spec_hash", rev.SpecHash, "err", errMsg)
}

// rejectDesired records a desired.yaml that does not parse as a failed
// deploy at pre-flight, and quarantines it by digest: it is not read as
// a deploy again until the file changes.
func (r *Reconciler) rejectDesired(d Desired) {
	now := time.Now().UTC()
	dep := &deploy{id: newDeployID(), kind: KindDeploy, begun: now, log: r.log,
		target: Revision{Commit: d.Commit, Digest: d.Digest}}
	if r.state.Deployed != nil {
		dep.fromVer = r.state.Deployed.Version
	}
	reason := "invalid desired state: " + d.Err.Error()
	r.event(dep, StepPreflight, PhaseStart, 0, "")
	r.event(dep, StepPreflight, PhaseFail, 0, reason)
	dep.steps = []StepTiming{{Name: StepPreflight, Outcome: "failed", Message: reason}}
	r.state.AddQuarantine(Quarantine{Digest: d.Digest, Commit: d.Commit, Reason: reason, DeployID: dep.id, At: now})
	r.finish(dep, OutcomeFailed, StepPreflight, reason)
}

// converge deploys want unless the active color already serves it.
func (r *Reconciler) converge(ctx context.Context, o observation, want Revision, force bool) error {
	active := o.active
	if !o.running(active) {
		active = ""
	}
	if active != "" && o.colors[active].ConfigHash == want.ConfigHash {
		r.adoptUnchanged(want)
		return nil
	}
	from, to := active, active.Other()
	if active == "" {
		to = spec.Blue
		if o.running(spec.Green) && o.colors[spec.Green].ConfigHash == want.ConfigHash {
			to = spec.Green
		}
	}
	d := r.newDeploy(KindDeploy, want, from, to, o)
	if want.Spec.Strategy.Type != spec.StrategyPrewarm {
		return r.runDeploy(ctx, d, r.stepsFor(KindDeploy, want.Spec))
	}
	if !r.prewarmed(o, to, want) {
		d.kind = KindPrewarm
		if err := r.runDeploy(ctx, d, r.prewarmSteps()); err != nil {
			return err
		}
	}
	if from != "" && !force && !want.Spec.Strategy.AutoPromoteEnabled() {
		return nil // awaiting `zdml deploy-fast`
	}
	p := r.newDeploy(KindPromote, want, from, to, o)
	p.id = d.id
	return r.runDeploy(ctx, p, r.promoteSteps())
}

// adoptUnchanged records a desired state the active color already serves
// (a new commit with the same spec, or a change of strategy or warm-up
// settings only): nothing restarts, and it becomes the deployed revision.
func (r *Reconciler) adoptUnchanged(want Revision) {
	dep := r.state.Deployed
	if dep != nil && dep.SpecHash == want.SpecHash && dep.Commit == want.Commit {
		return
	}
	if dep != nil && dep.SpecHash != want.SpecHash && dep.ConfigHash != want.ConfigHash {
		r.state.Previous = dep
	}
	want.At = time.Now().UTC()
	r.state.Deployed = &want
	if rs := r.state.Retry; rs != nil && rs.SpecHash == want.SpecHash {
		r.state.Retry = nil
	}
	r.saveState()
	r.events.Emit(Event{Step: StepRecord, Phase: PhaseInfo, Version: want.Version, Commit: want.Commit,
		Message: "desired state already served; recorded without a restart"})
}

// prewarmed reports whether color c is warm with want, waiting for promotion.
func (r *Reconciler) prewarmed(o observation, c spec.Color, want Revision) bool {
	cs := r.state.Colors[c]
	return o.running(c) && o.colors[c].ConfigHash == want.ConfigHash && cs != nil && cs.Role == RolePrewarmed
}

func (r *Reconciler) newDeploy(kind string, target Revision, from, to spec.Color, o observation) *deploy {
	d := &deploy{id: newDeployID(), kind: kind, strategy: target.Spec.Strategy.Type, target: target,
		from: from, to: to, priority: driver.PriorityLow}
	if from != "" {
		d.fromVer = o.colors[from].ModelVersion
	}
	if kind == KindRollback || kind == KindSelfHeal {
		d.priority = driver.PriorityNormal
	}
	return d
}

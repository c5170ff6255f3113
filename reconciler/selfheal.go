package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Self-heal reasons (zdml_reconciler_self_heals_total{reason}).
const (
	HealNginxDown   = "nginx_down"
	HealNginxConfig = "nginx_config"
	HealActiveDown  = "active_down"
)

// healSteps restart a dead active color in place, or adopt a warm standby.
func (r *Reconciler) healSteps() []step {
	return []step{
		{StepPreflight, r.stepPreflight}, {StepStart, r.stepStart}, {StepReady, r.stepReady},
		{StepWarmup, r.stepWarmup}, {StepSwap, r.stepSwap}, {StepVerify, r.stepVerify}, {StepRecord, r.stepRecord},
	}
}

// heal restores the last good state where it drifted without a deploy:
// the active color died, nginx is not running, or its config was changed
// by hand. It reports whether it acted. Repeated failures back off, so a
// heal that cannot succeed does not loop.
func (r *Reconciler) heal(ctx context.Context, o observation) bool {
	active := r.state.ActiveColor
	if !active.Valid() {
		return false
	}
	if !o.running(active) {
		return r.healActive(ctx, o, active)
	}
	drift := r.routeDrift(o, active)
	if drift == "" {
		return false
	}
	reason := HealNginxConfig
	if !o.route.Running {
		reason = HealNginxDown
	}
	return r.healing(reason, drift, func() error { return r.healNginx(ctx, o, active) })
}

// healing runs fix under reason's back-off and records it.
func (r *Reconciler) healing(reason, why string, fix func() error) bool {
	if time.Now().Before(r.healBackoff[reason]) {
		return false
	}
	r.events.Emit(Event{Step: StepSelfHeal, Phase: PhaseStart, Message: reason + ": " + why})
	t0 := time.Now()
	if err := fix(); err != nil {
		n := r.healFails[reason] + 1
		r.healFails[reason] = n
		wait := min(5*time.Second<<min(n-1, 6), 5*time.Minute)
		r.healBackoff[reason] = time.Now().Add(wait)
		r.events.Emit(Event{Step: StepSelfHeal, Phase: PhaseFail, Duration: time.Since(t0),
			Message: fmt.Sprintf("%s: %v (next try in %s)", reason, err, wait)})
		return true
	}
	delete(r.healFails, reason)
	delete(r.healBackoff, reason)
	r.metrics.selfHeals.WithLabelValues(reason).Inc()
	r.events.Emit(Event{Step: StepSelfHeal, Phase: PhaseEnd, Duration: time.Since(t0), Message: reason + ": restored"})
	return true
}

// healNginx makes nginx serve the config routing to active: it starts a
// stopped nginx, and reloads one whose config was changed, even when the
// change kept the config-hash line (the file is compared too).
func (r *Reconciler) healNginx(ctx context.Context, o observation, active spec.Color) error {
	_, err := r.routeTo(ctx, active, o.colors[active].ModelVersion, true)
	return err
}

// healActive replaces a dead active color: by swapping to the other color
// when it is up and runs the deployed config (the fastest heal), or else
// by restarting the deployed revision in place, gated like a deploy.
func (r *Reconciler) healActive(ctx context.Context, o observation, active spec.Color) bool {
	dep := r.state.Deployed
	if dep == nil || dep.Spec == nil {
		return false
	}
	why := fmt.Sprintf("active color %s is down: %s", active, o.colors[active].ExitErr)
	to := active
	if other := active.Other(); o.running(other) && o.colors[other].ConfigHash == dep.ConfigHash {
		to = other
	}
	return r.healing(HealActiveDown, why, func() error {
		d := r.newDeploy(KindSelfHeal, *dep, "", to, o)
		d.fromVer = dep.Version
		return r.runDeploy(ctx, d, r.healSteps())
	})
}

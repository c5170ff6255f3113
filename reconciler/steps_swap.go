package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// stepSwap points public traffic at the standby through the router
// (router.go). With nginx, the config is rendered, written atomically,
// tested with `nginx -t` and reloaded (or nginx started, on a first
// deploy), and the new workers are verified through the admin and public
// listeners (nginx.Proxy); on runtime kubernetes the stable Service's
// selector moves to the standby. A route already in place is left alone.
// It changes the router and the active color in state.json, then raises
// the new color's CPU priority.
func (r *Reconciler) stepSwap(ctx context.Context, d *deploy) error {
	first := !d.swapped || d.swappedAt.IsZero()
	if first {
		d.retiredShutdown = r.router().retiredShutdown()
	}
	d.swapped = true
	r.state.InProgress = d.progress(StepSwap)
	if err := r.saveStateErr(); err != nil {
		return err
	}
	outcome, err := r.routeTo(ctx, d.to, d.target.Version, false)
	if err != nil {
		return err
	}
	if first || outcome != string(nginx.Unchanged) {
		d.swappedAt = time.Now().UTC()
	}
	r.state.InProgress = d.progress(StepSwap)
	r.state.ActiveColor = d.to
	r.state.Color(d.to).Role = RoleActive
	if d.from != "" {
		r.state.Color(d.from).Role = RoleDraining
	}
	r.saveState()
	r.metrics.setActive(d.to)
	d.note = r.router().name() + " " + outcome
	if msg := r.raisePriority(ctx, d.to); msg != "" {
		d.note += "; " + msg
	}
	return nil
}

// raisePriority gives a color that now serves traffic the normal CPU
// priority. When the kernel refuses (no root or CAP_SYS_NICE) the color
// keeps serving at low priority: a clear warning, not a failure.
func (r *Reconciler) raisePriority(ctx context.Context, c spec.Color) string {
	drv, err := r.colorDriver(c)
	if err != nil {
		return err.Error()
	}
	if err := drv.SetPriority(ctx, c, driver.PriorityNormal); err != nil {
		if errors.Is(err, driver.ErrPriorityNotPermitted) {
			r.log.Warn("cannot raise the new color's CPU priority; it keeps serving at low priority", "color", c, "err", err)
			return "priority not raised: " + err.Error()
		}
		r.log.Warn("raise priority", "color", c, "err", err)
		return "priority not raised: " + err.Error()
	}
	return "priority normal"
}

// stepVerify checks the route (router.verify): through nginx's public
// listener, the new color and version answer, three fresh connections in
// a row; on runtime kubernetes, the stable Service's EndpointSlices list
// only the new color's ready pods, and it answers as the new color and
// version three times in a row. Once it passes the
// new version is committed: a later failure (the old color's stop) is
// retried and reported, never rolled back. It changes nothing but the
// deploy's record.
func (r *Reconciler) stepVerify(ctx context.Context, d *deploy) error {
	if err := r.router().verify(ctx, d.to, d.target.Version); err != nil {
		return err
	}
	d.verified = true
	return nil
}

// stepStop stops the old color gracefully: SIGTERM, the server finishes
// its in-flight requests and exits 0; it is killed only when that takes
// longer than its own stop timeout (stopTimeout). It runs after verify:
// zdml rollback does not cancel it (the deploy is committed), and a
// shutdown of the reconciler only stops the waiting, never the graceful
// stop (the driver does not kill because its caller went away; the next
// reconciler resumes here). A stop that fails is retried (stopAttempts),
// then reported as a degraded deploy, never rolled back onto the dying
// old color. A stopped color is left alone. It changes the old color's
// process and record.
func (r *Reconciler) stepStop(ctx context.Context, d *deploy) error {
	if d.from == "" || d.from == d.to {
		return nil
	}
	var err error
	for attempt, wait := 1, time.Second; ; attempt, wait = attempt+1, 2*wait {
		if err = r.stopColor(ctx, d.from, r.stopTimeout(d)); err == nil {
			break
		}
		if ctx.Err() != nil {
			return err
		}
		if attempt == stopAttempts {
			msg := fmt.Sprintf("old color %s could not be stopped (%d attempts): %v; it keeps running beside %s, and the next deploy replaces it",
				d.from, attempt, err, d.to)
			d.note = msg
			r.degrade(d, StepStop, DegradedStopFailed, msg)
			return nil
		}
		r.event(d, StepStop, PhaseInfo, 0, fmt.Sprintf("stop attempt %d failed: %v; retrying in %s", attempt, err, wait))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	*r.state.Color(d.from) = ColorState{Role: RoleStopped}
	r.saveState()
	return nil
}

// stopAttempts is how often stepStop tries to stop the old color.
const stopAttempts = 3

// stopColor stops color c through the driver it was started with.
func (r *Reconciler) stopColor(ctx context.Context, c spec.Color, timeout time.Duration) error {
	drv, err := r.colorDriver(c)
	if err != nil {
		return err
	}
	return drv.Stop(ctx, c, timeout)
}

// stopTimeout is how long a graceful stop of either color of d may take
// before it is killed: longer than any shutdown timeout either color was
// started with (drainTimeout + driver.ShutdownMargin, from its own spec),
// plus Config.StopTimeout to exit.
func (r *Reconciler) stopTimeout(d *deploy) time.Duration {
	drain := d.target.Spec.Strategy.DrainTimeout.Duration
	if dep := r.state.Deployed; dep != nil && dep.Spec != nil {
		drain = max(drain, dep.Spec.Strategy.DrainTimeout.Duration)
	}
	return driver.ShutdownTimeoutFor(drain) + r.cfg.StopTimeout
}

// stepRecord records the outcome in state.json. A deploy makes its target
// the deployed revision (the observed generation; the one before becomes
// the rollback target); a prewarm marks the standby as warm and waiting;
// a self-heal only records the active color. The history line is written
// when the deploy finishes.
func (r *Reconciler) stepRecord(_ context.Context, d *deploy) error {
	now := time.Now().UTC()
	switch d.kind {
	case KindPrewarm:
		cs := r.state.Color(d.to)
		cs.Role, cs.WarmedAt = RolePrewarmed, now
	case KindSelfHeal:
		r.state.ActiveColor = d.to
		r.state.Color(d.to).Role = RoleActive
	default:
		if dep := r.state.Deployed; dep != nil && dep.SpecHash != d.target.SpecHash {
			r.state.Previous = dep
		}
		t := d.target
		t.At = now
		r.state.Deployed = &t
		r.state.ActiveColor = d.to
		r.state.Color(d.to).Role = RoleActive
	}
	return r.saveStateErr()
}

// rollback undoes a failed deploy. After the swap it routes back to the
// old color (the same route as the swap), if that still runs (it is never stopped before verify);
// then it stops the new color. When the old color is gone the new one is
// left serving: something must serve.
func (r *Reconciler) rollback(ctx context.Context, d *deploy) error {
	canary := r.state.Canary
	if canary != nil && canary.DeployID == d.id {
		r.state.Canary = nil // weight 0 at once: the route back has no split
	}
	if d.swapped && d.from != "" {
		o := r.observe(ctx)
		if !o.running(d.from) {
			return fmt.Errorf("old color %s is gone; %s is left serving", d.from, d.to)
		}
		if _, err := r.routeTo(ctx, d.from, o.colors[d.from].ModelVersion, false); err != nil {
			return fmt.Errorf("restore %s to %s: %w", r.router().name(), d.from, err)
		}
		if canary != nil && canary.DeployID == d.id {
			canary.Weight = 0
			r.metrics.canaryWeight.Set(0)
			r.canaryEvent(d, canary, "weight 0: nginx routes every request to "+string(d.from), nil)
		}
		r.state.ActiveColor = d.from
		r.state.Color(d.from).Role = RoleActive
		r.metrics.setActive(d.from)
		r.raisePriority(ctx, d.from)
	}
	if err := r.stopColor(ctx, d.to, r.stopTimeout(d)); err != nil {
		return fmt.Errorf("stop %s: %w", d.to, err)
	}
	*r.state.Color(d.to) = ColorState{Role: RoleStopped}
	if r.state.ActiveColor == d.to {
		r.state.ActiveColor = ""
	}
	r.saveState()
	return nil
}

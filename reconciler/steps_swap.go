package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// stepSwap points nginx at the standby: the config is rendered, written
// atomically, tested with `nginx -t` and reloaded (or nginx started, on a
// first deploy), and the new workers are verified through the admin and
// public listeners (nginx.Proxy). A config nginx already serves is left
// alone. It changes nginx.conf, the running nginx and the active color in
// state.json, then raises the new color's CPU priority.
func (r *Reconciler) stepSwap(ctx context.Context, d *deploy) error {
	d.swapped = true
	r.state.InProgress = d.progress(StepSwap)
	r.saveState()
	outcome, err := r.routeTo(ctx, d.to, d.target.Version, false)
	if err != nil {
		return err
	}
	r.state.ActiveColor = d.to
	r.state.Color(d.to).Role = RoleActive
	if d.from != "" {
		r.state.Color(d.from).Role = RoleDraining
	}
	r.saveState()
	r.metrics.setActive(d.to)
	d.note = "nginx " + string(outcome)
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

// stepDrain waits until the old color has nothing in flight (its
// /health/deep in_flight is 0) and no retired nginx worker, which could
// still send it a request, remains; bounded by spec.strategy.drainTimeout.
// A drain that times out is not a failure: the stop that follows sends
// SIGTERM, and the server finishes what it holds before exiting. It
// changes nothing.
func (r *Reconciler) stepDrain(ctx context.Context, d *deploy) error {
	if d.from == "" {
		d.note = "first deploy: nothing to drain"
		return nil
	}
	o := r.observe(ctx)
	if !o.running(d.from) {
		d.note = "old color already stopped"
		return nil
	}
	runner := r.proxy.Runner()
	addr := r.colorAddr(d.from)
	first := true
	t0 := time.Now()
	var inFlight int64
	var retiring int
	err := poll(ctx, 25*time.Millisecond, d.target.Spec.Strategy.DrainTimeout.Duration, func(ctx context.Context) (bool, string, error) {
		deep, err := r.client.Deep(ctx, addr)
		if err != nil {
			return false, err.Error(), nil
		}
		inFlight, retiring = deep.InFlight, 0
		if ws, err := runner.Workers(ctx); err == nil {
			for _, w := range ws {
				if w.Retiring {
					retiring++
				}
			}
		}
		if first {
			d.drainInFlight, first = inFlight, false
		}
		return inFlight == 0 && retiring == 0, fmt.Sprintf("%d in flight, %d retiring nginx workers", inFlight, retiring), nil
	})
	d.drainTook = time.Since(t0)
	if errors.Is(err, errPollTimeout) {
		d.note = fmt.Sprintf("drain timed out with %d in flight and %d retiring nginx workers; the server finishes them after SIGTERM", inFlight, retiring)
		return nil
	}
	if err != nil {
		return err
	}
	d.note = fmt.Sprintf("drained %d in-flight requests in %s", d.drainInFlight, d.drainTook.Round(time.Millisecond))
	return nil
}

// stepVerify checks through nginx's public listener that the new color
// and version answer, three fresh connections in a row. It changes
// nothing.
func (r *Reconciler) stepVerify(ctx context.Context, d *deploy) error {
	return r.proxy.VerifyRoute(ctx, d.to, d.target.Version)
}

// stepStop stops the old color gracefully: SIGTERM, the server finishes
// its in-flight requests and exits 0; it is killed when that takes longer
// than the drain timeout plus the stop timeout. A stopped color is left
// alone. It changes the old color's process and record.
func (r *Reconciler) stepStop(ctx context.Context, d *deploy) error {
	if d.from == "" || d.from == d.to {
		return nil
	}
	drv, err := r.colorDriver(d.from)
	if err != nil {
		return err
	}
	if err := drv.Stop(ctx, d.from, d.target.Spec.Strategy.DrainTimeout.Duration+r.cfg.StopTimeout); err != nil {
		return err
	}
	*r.state.Color(d.from) = ColorState{Role: RoleStopped}
	r.saveState()
	return nil
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
	r.saveState()
	return nil
}

// rollback undoes a failed deploy. After the swap it points nginx back at
// the old color, if that still runs (it is never stopped before verify);
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
			return fmt.Errorf("restore nginx to %s: %w", d.from, err)
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
	drv, err := r.colorDriver(d.to)
	if err != nil {
		return err
	}
	if err := drv.Stop(ctx, d.to, r.cfg.StopTimeout+d.target.Spec.Strategy.DrainTimeout.Duration); err != nil {
		return fmt.Errorf("stop %s: %w", d.to, err)
	}
	*r.state.Color(d.to) = ColorState{Role: RoleStopped}
	if r.state.ActiveColor == d.to {
		r.state.ActiveColor = ""
	}
	r.saveState()
	return nil
}

package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// The manual controls below are the seed's start-green, stop-green and
// swap-to-* targets. They act only while no daemon runs (the CLI holds
// the lock), because a daemon would converge right back.

// StartColor starts color c with the desired state at normal priority and
// waits until it is ready. It does not route traffic to it.
func (r *Reconciler) StartColor(ctx context.Context, c spec.Color) (string, error) {
	if err := r.Recover(ctx); err != nil {
		return "", err
	}
	want, o, err := r.desiredForAction(ctx)
	if err != nil {
		return "", err
	}
	if o.running(c) {
		return "", fmt.Errorf("%w: %s already runs %s (pid %s)", ErrNothingToDo, c, o.colors[c].ModelVersion, o.colors[c].ID)
	}
	d := r.newDeploy(KindPrewarm, want, "", c, o)
	d.priority = driver.PriorityNormal
	d.log = r.log.With("manual", "start", "color", c)
	for _, s := range []step{{StepPreflight, r.stepPreflight}, {StepStart, r.stepStart}, {StepReady, r.stepReady}} {
		if err := s.run(ctx, d); err != nil {
			if d.started {
				_ = r.rollback(context.WithoutCancel(ctx), d)
			}
			return "", fmt.Errorf("start %s: %s: %w", c, s.name, err)
		}
	}
	return fmt.Sprintf("%s runs %s %s on %s (pid %s); not routed: zdml swap %s routes to it", c, want.Model, want.Version,
		d.inst.Addr, r.state.Color(c).ID, c), nil
}

// StopColor stops color c gracefully. The color nginx routes to is
// refused unless force: stopping it would fail every request.
func (r *Reconciler) StopColor(ctx context.Context, c spec.Color, force bool) (string, error) {
	if err := r.Recover(ctx); err != nil {
		return "", err
	}
	o := r.observe(ctx)
	if !o.running(c) {
		return "", fmt.Errorf("%w: %s is not running", ErrNothingToDo, c)
	}
	if o.active == c && !force {
		return "", fmt.Errorf("%s serves traffic (nginx routes to it): swap first, or use --force", c)
	}
	drv, err := r.colorDriver(c)
	if err != nil {
		return "", err
	}
	if err := drv.Stop(ctx, c, r.cfg.StopTimeout); err != nil {
		return "", err
	}
	*r.state.Color(c) = ColorState{Role: RoleStopped}
	r.saveState()
	r.events.Emit(Event{Step: StepStop, Phase: PhaseInfo, Color: c, Message: "stopped by zdml stop"})
	return fmt.Sprintf("%s stopped", c), nil
}

// SwapTo routes nginx to color c, which must be running and ready, and
// records it as the active color. A swap to the color that runs the
// previous version is recorded as a rollback of the deployed revision.
func (r *Reconciler) SwapTo(ctx context.Context, c spec.Color) (string, error) {
	if err := r.Recover(ctx); err != nil {
		return "", err
	}
	o := r.observe(ctx)
	if !o.running(c) {
		return "", fmt.Errorf("%s is not running: zdml start %s first", c, c)
	}
	if o.route.Running && o.route.Active == c && r.routeDrift(o, c) == "" {
		return "", fmt.Errorf("%w: %s already routes to %s", ErrNothingToDo, r.router().name(), c)
	}
	served, err := r.clientFor(c).Ready(ctx, r.colorAddr(c))
	if err != nil {
		return "", fmt.Errorf("%s is not ready: %w", c, err)
	}
	t0 := time.Now()
	if _, err := r.routeTo(ctx, c, served.Version, false); err != nil {
		return "", err
	}
	old := r.state.ActiveColor
	r.state.ActiveColor = c
	r.state.Color(c).Role = RoleActive
	if old.Valid() && old != c && o.running(old) {
		r.state.Color(old).Role = RoleStandby
	}
	if prev := r.state.Previous; prev != nil && prev.ConfigHash == o.colors[c].ConfigHash {
		r.state.Previous, r.state.Deployed = r.state.Deployed, prev
	}
	r.saveState()
	msg := r.raisePriority(ctx, c)
	r.events.Emit(Event{Step: StepSwap, Phase: PhaseInfo, Color: c, Version: served.Version, Duration: time.Since(t0),
		Message: "swapped by zdml swap; " + msg})
	return fmt.Sprintf("%s routes to %s (%s) in %s", r.router().name(), c, served.Version, time.Since(t0).Round(time.Millisecond)), nil
}

// ErrDaemonRunning is returned by manual controls while a daemon holds
// the state.
var ErrDaemonRunning = errors.New("the reconciler daemon manages this state")

// Down stops both colors and nginx gracefully: the whole local stack,
// for `zdml down`. State and history are kept; the next deploy starts
// from nothing (a first deploy).
func (r *Reconciler) Down(ctx context.Context) (string, error) {
	if err := r.Recover(ctx); err != nil {
		return "", err
	}
	var stopped []string
	o := r.observe(ctx)
	if rt, ok := r.router().(*nginxRouter); ok && o.route.Running {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := rt.stop(sctx)
		cancel()
		if err != nil {
			return "", fmt.Errorf("stop nginx: %w", err)
		}
		stopped = append(stopped, "nginx")
	}
	for _, c := range spec.Colors {
		if !o.running(c) {
			continue
		}
		drv, err := r.colorDriver(c)
		if err != nil {
			return "", err
		}
		if err := drv.Stop(ctx, c, r.cfg.StopTimeout); err != nil {
			return "", err
		}
		*r.state.Color(c) = ColorState{Role: RoleStopped}
		stopped = append(stopped, string(c))
	}
	r.state.ActiveColor = ""
	r.saveState()
	r.events.Emit(Event{Step: StepStop, Phase: PhaseInfo, Message: "zdml down stopped " + strings.Join(stopped, ", ")})
	if len(stopped) == 0 {
		return "nothing was running", nil
	}
	return "stopped " + strings.Join(stopped, ", "), nil
}

package reconciler

import (
	"context"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// observation is what the reconciler sees, taken fresh before every
// decision: decisions come from what runs, not from what state.json says
// should run (level-triggered, so a restarted reconciler decides right).
type observation struct {
	// route is what routes public traffic (router.observe): nginx, or
	// runtime kubernetes's stable Service.
	route    nginx.Observed
	routeErr error
	colors   map[spec.Color]driver.Status
	// active is the color the router routes to, or the one state.json
	// names when nothing routes.
	active spec.Color
	// blind says why a color could not be observed at all (its runtime's
	// API server does not answer): nothing is decided from such an
	// observation, since "not running" would be a guess.
	blind error
}

// running reports whether color c's server process is alive.
func (o observation) running(c spec.Color) bool { return c.Valid() && o.colors[c].Running }

// observe inspects nginx and both colors.
func (r *Reconciler) observe(ctx context.Context) observation {
	o := observation{colors: map[spec.Color]driver.Status{}}
	o.route, o.routeErr = r.router().observe(ctx)
	if o.routeErr != nil && runtimeUnavailable(o.routeErr) {
		o.blind = o.routeErr
	}
	for _, c := range spec.Colors {
		d, err := r.colorDriver(c)
		if err != nil {
			o.colors[c] = driver.Status{Color: c, ExitErr: err.Error()}
			continue
		}
		st, err := d.Inspect(ctx, c)
		if err != nil {
			st = driver.Status{Color: c, ExitErr: err.Error()}
			if runtimeUnavailable(err) {
				o.blind = err
			}
		}
		st.Color = c
		o.colors[c] = st
	}
	o.active = r.state.ActiveColor
	if o.route.Running && o.routeErr == nil && o.route.Active.Valid() {
		o.active = o.route.Active
	}
	return o
}

// nginxConfig is the config that routes public traffic to active, with
// the canary split and maintenance mode that state.json records: every
// config nginx gets (a swap, a rollback, a self-heal) keeps them. Its
// worker_shutdown_timeout follows the drainTimeout (routeDrainTimeout) with
// nginx.WorkerShutdownMargin, so a stream the drain waits for is never cut
// by nginx first.
func (r *Reconciler) nginxConfig(active spec.Color) nginx.Config {
	cfg := nginx.Config{
		PublicAddr:            r.cfg.PublicAddr,
		AdminAddr:             r.cfg.AdminAddr,
		Upstreams:             map[spec.Color]string{spec.Blue: r.colorAddr(spec.Blue), spec.Green: r.colorAddr(spec.Green)},
		Active:                active,
		WorkerShutdownTimeout: nginx.WorkerShutdownTimeoutFor(r.routeDrainTimeout()),
	}
	if c := r.state.Canary; c != nil && c.Stable == active && c.Canary == active.Other() {
		cfg.Canary = &nginx.Canary{Color: c.Canary, Weight: c.Weight, PerRequest: c.Sticky == spec.StickyNone}
	}
	if m := r.state.Maintenance; m != nil {
		cfg.Maintenance = &nginx.Maintenance{Message: m.Message, RetryAfter: m.RetryAfter}
	}
	return cfg
}

// routeDrainTimeout is the drainTimeout nginx's config is rendered for:
// the target's of the deploy in progress (its swap and drain), else the
// deployed revision's. A deploy that succeeds leaves the same value, so the
// config nginx serves afterwards is not seen as drift.
func (r *Reconciler) routeDrainTimeout() time.Duration {
	if p := r.state.InProgress; p != nil && p.Failed == "" && p.Target.Spec != nil {
		return p.Target.Spec.Strategy.DrainTimeout.Duration
	}
	if dep := r.state.Deployed; dep != nil && dep.Spec != nil {
		return dep.Spec.Strategy.DrainTimeout.Duration
	}
	return spec.DefaultDrainTimeout
}

// colorAddr is where color c listens: the address it was started on while
// it runs (a changed --blue-addr applies to the next start, and nginx must
// keep reaching the running one), else the configured address.
func (r *Reconciler) colorAddr(c spec.Color) string {
	if cs := r.state.Colors[c]; cs != nil && cs.Role != RoleStopped && cs.Addr != "" {
		return cs.Addr
	}
	return r.cfg.ColorAddrs[c]
}

// routeDrift says how the routing differs from one routing to active:
// "" when it does not.
func (r *Reconciler) routeDrift(o observation, active spec.Color) string {
	return r.router().drift(o, active)
}

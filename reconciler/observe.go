package reconciler

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// observation is what the reconciler sees, taken fresh before every
// decision: decisions come from what runs, not from what state.json says
// should run (level-triggered, so a restarted reconciler decides right).
type observation struct {
	nginx    nginx.Observed
	nginxErr error
	colors   map[spec.Color]driver.Status
	// active is the color nginx routes to, or the one state.json names
	// when nginx is not running.
	active spec.Color
}

// running reports whether color c's server process is alive.
func (o observation) running(c spec.Color) bool { return c.Valid() && o.colors[c].Running }

// observe inspects nginx and both colors.
func (r *Reconciler) observe(ctx context.Context) observation {
	o := observation{colors: map[spec.Color]driver.Status{}}
	o.nginx, o.nginxErr = r.proxy.Observe(ctx)
	for _, c := range spec.Colors {
		d, err := r.colorDriver(c)
		if err != nil {
			o.colors[c] = driver.Status{Color: c, ExitErr: err.Error()}
			continue
		}
		st, err := d.Inspect(ctx, c)
		if err != nil {
			st = driver.Status{Color: c, ExitErr: err.Error()}
		}
		st.Color = c
		o.colors[c] = st
	}
	o.active = r.state.ActiveColor
	if o.nginx.Running && o.nginxErr == nil && o.nginx.Active.Valid() {
		o.active = o.nginx.Active
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

// nginxDrift says how the running nginx differs from the config that
// routes to active: "" when it does not.
func (r *Reconciler) nginxDrift(o observation, active spec.Color) string {
	if !o.nginx.Running {
		return "nginx is not running"
	}
	text, hash, err := nginx.Render(r.nginxConfig(active))
	if err != nil {
		return "render: " + err.Error()
	}
	if o.nginxErr != nil {
		return "nginx admin listener: " + o.nginxErr.Error()
	}
	if o.nginx.Hash != hash || o.nginx.Active != active {
		return "nginx serves config " + o.nginx.Hash + " routing to " + string(o.nginx.Active) + ", want " + hash + " routing to " + string(active)
	}
	live, err := os.ReadFile(filepath.Join(r.proxy.Runner().Dir(), nginx.ConfFile))
	if err != nil || !bytes.Equal(live, text) {
		return "nginx.conf was changed by hand"
	}
	return ""
}

package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
)

// maintenance turns maintenance mode on or off (kamal-proxy's stop
// --message): nginx answers user routes with 503 JSON and Retry-After
// while health routes keep answering, and the active color keeps running.
// It is recorded in state.json first, so every config nginx gets from now
// on (a deploy's swap, a self-heal) keeps it, and a restart keeps it.
func (r *Reconciler) maintenance(ctx context.Context, req Request) (string, error) {
	on := req.Action == ActionMaintenanceOn
	var want *MaintenanceState
	if on {
		want = &MaintenanceState{Message: req.Message, RetryAfter: req.RetryAfter, Since: time.Now().UTC()}
		if want.Message == "" {
			want.Message = nginx.DefaultMaintenanceMessage
		}
		if want.RetryAfter == 0 {
			want.RetryAfter = nginx.DefaultMaintenanceRetryAfter
		}
		m := nginx.Maintenance{Message: want.Message, RetryAfter: want.RetryAfter}
		if err := m.Validate(); err != nil {
			return "", fmt.Errorf("maintenance: %w", err)
		}
	}
	if rt := routingRuntime(r.routingRevision()); !routedByNginx(rt) {
		return "", fmt.Errorf("maintenance: not supported on runtime %s yet (a Service cannot answer 503 by itself)", rt)
	}
	o := r.observe(ctx)
	active := o.active
	if !o.running(active) || !o.route.Running {
		return "", errors.New("maintenance: nothing is serving (deploy first)")
	}
	before := r.state.Maintenance
	r.state.Maintenance = want
	if err := r.saveStateErr(); err != nil {
		r.state.Maintenance = before
		return "", err
	}
	if _, err := r.routeTo(ctx, active, o.colors[active].ModelVersion, false); err != nil {
		r.state.Maintenance = before
		r.saveState()
		return "", fmt.Errorf("maintenance: %w (nginx keeps its previous config)", err)
	}
	r.events.Emit(Event{Step: "maintenance", Phase: PhaseInfo, Color: active, Version: o.colors[active].ModelVersion,
		Message: maintenanceNote(want)})
	r.publish(r.observe(ctx))
	if !on {
		return fmt.Sprintf("maintenance off: %s %s serves user routes again", active, o.colors[active].ModelVersion), nil
	}
	return fmt.Sprintf("maintenance on: user routes answer 503 (Retry-After %ds): %q; health routes and %s keep running",
		int(want.RetryAfter/time.Second), want.Message, active), nil
}

func maintenanceNote(m *MaintenanceState) string {
	if m == nil {
		return "maintenance off"
	}
	return "maintenance on: " + m.Message
}

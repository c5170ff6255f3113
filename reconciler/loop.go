package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Actions the daemon takes on request (the API, the CLI).
const (
	ActionReconcile = "reconcile" // deploy the desired state now, lifting its quarantine
	ActionPrewarm   = "prewarm"   // start and warm the standby, no swap
	ActionPromote   = "promote"   // swap the prewarmed standby in (deploy-fast)
	ActionRollback  = "rollback"  // emergency rollback to the previous version
)

type request struct {
	action string
	reply  chan result
}

type result struct {
	msg string
	err error
}

// Run is the daemon: it recovers the colors and nginx left by an earlier
// run, then reconciles whenever the source changes, every Resync (to heal
// drift), and on request, until ctx ends. Colors and nginx keep running
// after it returns.
func (r *Reconciler) Run(ctx context.Context) error {
	if err := r.Recover(ctx); err != nil {
		return err
	}
	if r.cfg.Source != nil {
		go func() {
			if err := r.cfg.Source.Watch(ctx, r.Wake); err != nil {
				r.log.Error("watch desired state; polling every resync", "err", err)
			}
		}()
	}
	t := time.NewTicker(r.cfg.Resync)
	defer t.Stop()
	for {
		if err := r.reconcile(ctx, false); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-t.C:
		case req := <-r.requests:
			msg, err := r.act(ctx, req.action)
			req.reply <- result{msg, err}
		}
	}
}

// Wake asks the daemon to reconcile soon; calls coalesce.
func (r *Reconciler) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Do asks the running daemon to take an action and waits for its outcome.
// A rollback first cancels a deploy in progress, which then rolls itself
// back.
func (r *Reconciler) Do(ctx context.Context, action string) (string, error) {
	switch action {
	case ActionReconcile, ActionPrewarm, ActionPromote:
	case ActionRollback:
		r.abortRunning()
	default:
		return "", fmt.Errorf("unknown action %q", action)
	}
	req := request{action: action, reply: make(chan result, 1)}
	select {
	case r.requests <- req:
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
	select {
	case res := <-req.reply:
		return res.msg, res.err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

// abortRunning cancels the deploy in progress, if any, for a rollback.
func (r *Reconciler) abortRunning() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil && r.running != nil && r.running.kind != KindRollback {
		r.aborted = r.running.id
		r.cancel(errRollbackRequested)
	}
}

// Act takes an action directly; for a CLI holding the lock while no
// daemon runs. It must not be called concurrently with Run.
func (r *Reconciler) Act(ctx context.Context, action string) (string, error) {
	if err := r.Recover(ctx); err != nil {
		return "", err
	}
	return r.act(ctx, action)
}

func (r *Reconciler) act(ctx context.Context, action string) (string, error) {
	switch action {
	case ActionReconcile:
		return r.deployNow(ctx)
	case ActionPrewarm:
		return r.prewarm(ctx)
	case ActionPromote:
		return r.promote(ctx)
	case ActionRollback:
		r.mu.Lock()
		aborted := r.aborted
		r.aborted = ""
		r.mu.Unlock()
		if aborted != "" {
			return "deploy " + aborted + " aborted and rolled back; the previous version serves", nil
		}
		return r.rollbackNow(ctx)
	}
	return "", fmt.Errorf("unknown action %q", action)
}

// Recover re-attaches to what an earlier reconciler left running: each
// runtime's colors, and nginx through its pid file. It changes nothing
// that serves.
func (r *Reconciler) Recover(ctx context.Context) error {
	runtimes := map[string]bool{"process": true}
	for _, cs := range r.state.Colors {
		if cs.Runtime != "" {
			runtimes[cs.Runtime] = true
		}
	}
	for rt := range runtimes {
		d, err := r.driver(rt)
		if err != nil {
			r.log.Warn("recover", "runtime", rt, "err", err)
			continue
		}
		sts, err := d.Recover(ctx)
		if err != nil {
			return fmt.Errorf("recover %s: %w", rt, err)
		}
		for _, st := range sts {
			if st.Running {
				r.log.Info("found running color", "color", st.Color, "runtime", rt, "id", st.ID, "version", st.ModelVersion)
			}
		}
	}
	o := r.observe(ctx)
	if o.nginx.Running {
		r.log.Info("found running nginx", "id", o.nginx.ID, "active", o.nginx.Active)
	}
	r.publish(o)
	return nil
}

// ErrNothingToDo is returned by actions that find nothing to do.
var ErrNothingToDo = errors.New("nothing to do")

package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Actions the daemon takes on request (the API, the CLI).
const (
	ActionReconcile = "reconcile" // deploy the desired state now, lifting its quarantine
	ActionPrewarm   = "prewarm"   // start and warm the standby, no swap
	ActionPromote   = "promote"   // promote now: a canary to all traffic, or the prewarmed standby (deploy-fast)
	ActionRollback  = "rollback"  // emergency rollback to the previous version
	ActionAbort     = "abort"     // abort the canary in progress: weight 0, the canary drains and stops
	ActionPause     = "pause"     // hold the canary at its weight (the analysis keeps running)
	ActionResume    = "resume"    // continue a paused canary
	// ActionMaintenanceOn makes nginx answer user routes with 503 JSON and
	// Retry-After (Request.Message, Request.RetryAfter); health routes
	// stay up. ActionMaintenanceOff restores traffic.
	ActionMaintenanceOn  = "maintenance-on"
	ActionMaintenanceOff = "maintenance-off"
)

// Actions lists every action the API accepts.
var Actions = []string{ActionReconcile, ActionPrewarm, ActionPromote, ActionRollback, ActionAbort, ActionPause,
	ActionResume, ActionMaintenanceOn, ActionMaintenanceOff}

// Request is an action and its arguments, as the CLI and the API send it.
type Request struct {
	Action string `json:"action"`
	// Message and RetryAfter are maintenance mode's 503 text and header.
	Message    string        `json:"message,omitempty"`
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`
}

type request struct {
	req   Request
	reply chan result
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
		r.passes.Add(1)
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-t.C:
		case <-r.retryDue():
		case req := <-r.requests:
			msg, err := r.act(ctx, req.req)
			req.reply <- result{msg, err}
		}
	}
}

// retryDue fires when the deploy being retried is due; never when none
// is, or when its time has passed (the next resync takes it).
func (r *Reconciler) retryDue() <-chan time.Time {
	if rs := r.state.Retry; rs != nil {
		if wait := time.Until(rs.NextAttemptAt); wait > 0 {
			return time.After(wait)
		}
	}
	return nil
}

// Wake asks the daemon to reconcile soon; calls coalesce.
func (r *Reconciler) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Do asks the running daemon to take an action and waits for its outcome.
// A rollback or an abort first cancels the deploy in progress, which then
// rolls itself back; the other actions wait for the daemon's loop, or
// reach a canary that waits in a pause.
func (r *Reconciler) Do(ctx context.Context, req Request) (string, error) {
	switch req.Action {
	case ActionReconcile, ActionPrewarm, ActionPromote, ActionPause, ActionResume, ActionMaintenanceOn, ActionMaintenanceOff:
	case ActionRollback, ActionAbort:
		cause := errRollbackRequested
		if req.Action == ActionAbort {
			cause = errCanaryAborted
		}
		// The answer is what became of the deploy: wait until it has
		// rolled itself back, so that its own loop (a canary waiting in a
		// pause reads requests too) does not take the request meanwhile.
		if done := r.abortRunning(cause); done != nil {
			select {
			case <-done:
			case <-ctx.Done():
				return "", context.Cause(ctx)
			}
		}
	default:
		return "", fmt.Errorf("unknown action %q", req.Action)
	}
	rq := request{req: req, reply: make(chan result, 1)}
	select {
	case r.requests <- rq:
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
	select {
	case res := <-rq.reply:
		return res.msg, res.err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

// abortRunning cancels the deploy in progress, if any, with cause, and
// returns a channel closed when it has finished (nil when none runs).
func (r *Reconciler) abortRunning(cause error) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil && r.running != nil && r.running.kind != KindRollback {
		r.aborted = r.running.id
		r.cancel(cause)
		return r.runDone
	}
	return nil
}

// Act takes an action directly; for a CLI holding the lock while no
// daemon runs. It must not be called concurrently with Run.
func (r *Reconciler) Act(ctx context.Context, req Request) (string, error) {
	if err := r.Recover(ctx); err != nil {
		return "", err
	}
	return r.act(ctx, req)
}

func (r *Reconciler) act(ctx context.Context, req Request) (string, error) {
	switch req.Action {
	case ActionReconcile:
		return r.deployNow(ctx)
	case ActionPrewarm:
		return r.prewarm(ctx)
	case ActionPromote:
		if r.canaryInProgress() {
			return r.canaryControl(ctx, req)
		}
		return r.promote(ctx)
	case ActionRollback, ActionAbort:
		r.mu.Lock()
		aborted := r.aborted
		r.aborted = ""
		r.mu.Unlock()
		if aborted != "" {
			if l := r.state.LastDeploy; req.Action == ActionRollback && l != nil && l.ID == aborted && committed(l.Outcome) {
				// It had passed verify when the request came: it finished
				// (its old color's stop is never cut short), and the
				// rollback deploys the version it replaced.
				msg, err := r.rollbackNow(ctx)
				if err != nil {
					return "", fmt.Errorf("%s %s had passed verify and finished (%s); the rollback after it failed: %w", l.Kind, aborted, l.Outcome, err)
				}
				return fmt.Sprintf("%s %s had passed verify and finished (%s); then %s", l.Kind, aborted, l.Outcome, msg), nil
			}
			return r.describeAborted(aborted)
		}
		if req.Action == ActionAbort {
			return r.canaryControl(ctx, req)
		}
		return r.rollbackNow(ctx)
	case ActionPause, ActionResume:
		return r.canaryControl(ctx, req)
	case ActionMaintenanceOn, ActionMaintenanceOff:
		return r.maintenance(ctx, req)
	}
	return "", fmt.Errorf("unknown action %q", req.Action)
}

// Recover re-attaches to what an earlier reconciler left running: the
// colors on every runtime (Runtimes), and nginx through its pid file. It
// changes nothing that serves. Every runtime is asked, not only those
// state.json names: state.json may be lost, and what runs is the truth. A
// runtime state.json names must answer; another one that cannot be
// reached (no Docker on this machine) is skipped.
func (r *Reconciler) Recover(ctx context.Context) error {
	known := map[string]bool{spec.RuntimeProcess: true}
	for _, cs := range r.state.Colors {
		if cs.Runtime != "" {
			known[cs.Runtime] = true
		}
	}
	r.noteKubeDesired(ctx)
	found := map[spec.Color][]runtimeStatus{}
	for _, rt := range Runtimes {
		sts, err := r.recoverRuntime(ctx, rt, known[rt])
		if err != nil {
			return err
		}
		for _, st := range sts {
			if st.Running && st.Color.Valid() {
				r.log.Info("found running color", "color", st.Color, "runtime", rt, "id", st.ID, "version", st.ModelVersion)
				found[st.Color] = append(found[st.Color], runtimeStatus{rt, st})
			}
		}
	}
	o := r.observe(ctx)
	if o.route.Running {
		r.log.Info("found the route", "router", r.router().name(), "id", o.route.ID, "active", o.route.Active)
	}
	if r.recordFound(o, found) {
		r.saveState()
		o = r.observe(ctx)
	}
	r.publish(o)
	return nil
}

// noteKubeDesired records the desired state before anything is
// recovered when it names runtime kubernetes and state.json names no
// revision that does (it was lost, or this is the first run): the driver
// needs its metadata.name and spec.kubernetes to find the app's objects,
// from which a restarted reconciler recovers.
func (r *Reconciler) noteKubeDesired(ctx context.Context) {
	if r.kubeRevision() != nil || r.cfg.Source == nil {
		return
	}
	d, err := r.cfg.Source.Read(ctx)
	if err != nil || d.Err != nil || d.Doc.Spec.Runtime != spec.RuntimeKubernetes {
		return
	}
	want := revisionOf(d)
	r.noteDesired(&want, "")
}

type runtimeStatus struct {
	runtime string
	st      driver.Status
}

// reachable is implemented by drivers whose runtime may be absent (a
// daemon to connect to): Recover skips such a runtime, when state.json
// does not name it, without waiting on retries.
type reachable interface {
	Reachable(ctx context.Context) error
}

// recoverRuntime asks one runtime for the colors it runs. required is
// whether state.json names the runtime: its failure is then an error.
func (r *Reconciler) recoverRuntime(ctx context.Context, rt string, required bool) ([]driver.Status, error) {
	d, err := r.driver(rt)
	if err != nil {
		r.log.Warn("recover", "runtime", rt, "err", err)
		return nil, nil
	}
	if p, ok := d.(reachable); ok && !required {
		if err := p.Reachable(ctx); err != nil {
			r.log.Debug("recover: runtime unreachable, skipped", "runtime", rt, "err", err)
			return nil, nil
		}
	}
	sts, err := d.Recover(ctx)
	if err != nil && required {
		return nil, fmt.Errorf("recover %s: %w", rt, err)
	}
	if err != nil {
		r.log.Warn("recover", "runtime", rt, "err", err)
	}
	return sts, nil
}

// recordFound writes into state what runs but state.json does not record
// (it was lost, or is stale): the color's runtime, so that observe asks
// the right driver, what it runs, and the active color nginx routes to.
// It reports whether state changed.
func (r *Reconciler) recordFound(o observation, found map[spec.Color][]runtimeStatus) bool {
	changed := false
	for _, c := range spec.Colors {
		cs := r.state.Colors[c]
		if len(found[c]) == 0 || (o.running(c) && cs != nil && cs.Role != RoleStopped) {
			continue // nothing runs, or state already records where it does
		}
		f := found[c][0]
		for _, rs := range found[c] {
			if rs.runtime == runtimeOf(cs) {
				f = rs // where state.json, stale as it may be, says it runs
			}
		}
		cs = r.state.Color(c)
		cs.Runtime, cs.Version, cs.ConfigHash, cs.Addr = f.runtime, f.st.ModelVersion, f.st.ConfigHash, f.st.Addr
		cs.ID, cs.InstanceID, cs.StartedAt, cs.Role = f.st.ID, f.st.InstanceID, f.st.StartedAt, RoleStandby
		r.log.Warn("recorded a running color state.json did not know", "color", c, "runtime", f.runtime, "id", f.st.ID)
		changed = true
	}
	if r.state.ActiveColor == "" && o.route.Running && o.routeErr == nil && o.route.Active.Valid() {
		r.state.ActiveColor = o.route.Active
		changed = true
	}
	if a := r.state.ActiveColor; a.Valid() && len(found[a]) > 0 && r.state.Color(a).Role != RoleActive {
		r.state.Color(a).Role = RoleActive
		changed = true
	}
	return changed
}

// committed reports whether a deploy outcome left its new version serving.
func committed(outcome string) bool { return outcome == OutcomeSucceeded || outcome == OutcomeDegraded }

// ErrNothingToDo is returned by actions that find nothing to do.
var ErrNothingToDo = errors.New("nothing to do")

// runtimeOf is the runtime a color record names (process by default).
func runtimeOf(cs *ColorState) string {
	if cs == nil || cs.Runtime == "" {
		return spec.RuntimeProcess
	}
	return cs.Runtime
}

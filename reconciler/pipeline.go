package reconciler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// step is one named step of a deploy. Each step observes before it acts,
// so running it again (after a crash, or on resume) changes nothing that
// is already right; its doc comment says what it checks and what it
// changes. A step's error stops the pipeline and rolls the deploy back.
type step struct {
	name string
	run  func(ctx context.Context, d *deploy) error
}

// deploy is one run of the pipeline, from the active color (from) to the
// standby (to).
type deploy struct {
	id       string
	kind     string
	strategy string
	target   Revision
	inst     driver.Instance
	from     spec.Color // "" on a first deploy
	to       spec.Color
	fromVer  string
	swapped  bool // nginx may route to `to`: a rollback must restore it
	started  bool // `to` was started (or adopted): a rollback must stop it
	// verified is set once verify passed: the new version is committed,
	// and nothing after it (a failed stop of the old color) undoes it.
	verified bool
	// swappedAt is when nginx was made to route to `to`, and
	// retiredShutdown the worker_shutdown_timeout of the config that swap
	// retired (0: none): its workers carry streams to the old color until
	// then, and nginx cuts them after it.
	swappedAt       time.Time
	retiredShutdown time.Duration
	// degraded lists why a deploy that committed its new version is not a
	// clean success (a drain that timed out, a stop that failed).
	degraded []Degradation
	begun    time.Time
	steps    []StepTiming
	log      *slog.Logger
	// priority is what the standby starts with: low for deploys, so the
	// active color keeps the CPU; normal for rollbacks and heals.
	priority driver.Priority
	// note is what the running step wants recorded beside its timing.
	note string
	// retry is when a deploy that failed for a reason of the environment
	// is tried again (nil: it is not).
	retry *RetryState
	// drain measurements, for metrics
	drainTook     time.Duration
	drainInFlight int64 // when the drain began
	drainLeft     int64 // when it ended: 0 unless it timed out
	// verdict is the quality gate's judgement, once it ran.
	verdict *quality.Verdict
	// evidence is the directory keeping a failed deploy's evidence, or
	// evidenceErr why it could not be kept (evidence.go).
	evidence, evidenceErr string
}

// errRollbackRequested cancels a running deploy for `zdml rollback`.
var errRollbackRequested = errors.New("rollback requested")

func newDeployID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// progress is the deploy as state.json records it while it runs.
func (d *deploy) progress(stepName string) *Progress {
	return &Progress{DeployID: d.id, Kind: d.kind, From: d.from, To: d.to, Target: d.target, Step: stepName,
		Swapped: d.swapped, SwappedAt: d.swappedAt, RetiredShutdown: d.retiredShutdown, Verified: d.verified,
		Degraded: d.degraded, StartedAt: d.begun}
}

// event records a step of d. Its color and version are those the step acts
// on: the old color for drain and stop, the new one for every other step.
func (r *Reconciler) event(d *deploy, stepName, phase string, dur time.Duration, msg string) {
	color, version := d.to, d.target.Version
	if (stepName == StepDrain || stepName == StepStop) && d.from != "" {
		color, version = d.from, d.fromVer
	}
	r.events.Emit(Event{DeployID: d.id, Step: stepName, Phase: phase, Color: color, Version: version,
		Commit: d.target.Commit, Duration: dur, Message: msg})
}

// runDeploy runs steps in order and stops at the first error, which rolls
// the deploy back. It returns the deploy's error (nil on success). When
// ctx ends because the reconciler is shutting down, the deploy is left as
// it is: state.json records it, and the next reconciler resumes it.
func (r *Reconciler) runDeploy(ctx context.Context, d *deploy, steps []step) error {
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	r.mu.Lock()
	r.cancel, r.running, r.runDone = cancel, d, done
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.cancel, r.running, r.runDone = nil, nil, nil
		r.mu.Unlock()
		close(done)
	}()
	if d.begun.IsZero() {
		d.begun = time.Now().UTC()
	}
	d.log = r.log.With("deploy_id", d.id, "kind", d.kind, "from", d.from, "to", d.to, "version", d.target.Version)
	d.log.Info("deploy started", "commit", d.target.Commit)
	steps = applicable(steps, d)
	r.prefetchQuality(dctx, d, steps)
	for _, s := range steps {
		// Recorded before acting: a step whose record fails does not run.
		// Past verify the deploy is committed and what is left (stop,
		// record) is idempotent: it runs all the same, or the old color
		// would be left running.
		r.state.InProgress = d.progress(s.name)
		err := r.saveStateErr()
		if err != nil && d.verified {
			d.log.Error("state.json could not record the step; it runs all the same", "step", s.name, "err", err)
			err = nil
		}
		if err == nil {
			r.publish(observation{})
			// Once verify passed the deploy is committed: zdml rollback
			// and abort no longer cancel it (they wait, then act), only a
			// shutdown interrupts it.
			sctx := dctx
			if d.verified {
				sctx = ctx
			}
			err = r.runStep(sctx, d, s)
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			d.log.Warn("deploy interrupted by shutdown; the next reconciler resumes it", "step", s.name)
			return fmt.Errorf("interrupted at %s: %w", s.name, ctx.Err())
		}
		if d.verified {
			// The new version passed verify: it is committed, and undoing
			// it would route back to a color being stopped.
			r.degrade(d, s.name, DegradedAfterVerify, fmt.Sprintf("%s failed after verify passed: %v", s.name, err))
			continue
		}
		if c := context.Cause(dctx); errors.Is(c, errRollbackRequested) || errors.Is(c, errCanaryAborted) {
			err = fmt.Errorf("%w: %v", c, err)
		}
		return r.fail(ctx, d, s.name, err)
	}
	r.finish(d, OutcomeSucceeded, "", "")
	return nil
}

// runStep runs one step, with its events and timing.
func (r *Reconciler) runStep(ctx context.Context, d *deploy, s step) error {
	r.event(d, s.name, PhaseStart, 0, "")
	t0 := time.Now()
	d.note = ""
	err := s.run(ctx, d)
	took := time.Since(t0)
	r.metrics.stepDuration.WithLabelValues(s.name).Observe(took.Seconds())
	if err != nil {
		d.steps = append(d.steps, StepTiming{Name: s.name, Outcome: "failed", Duration: took, Message: err.Error()})
		r.event(d, s.name, PhaseFail, took, err.Error())
		return err
	}
	d.steps = append(d.steps, StepTiming{Name: s.name, Outcome: "ok", Duration: took, Message: d.note})
	r.event(d, s.name, PhaseEnd, took, d.note)
	d.note = ""
	return nil
}

// fail rolls a failed deploy back and records what happened. A failure
// of the environment (a port in use, the Docker daemon down, a full disk,
// nginx not answering in time: failure.go) is retried with a capped
// backoff (retry.go); any other failure quarantines the desired state, so
// it is not retried until the spec changes.
func (r *Reconciler) fail(ctx context.Context, d *deploy, failedStep string, cause error) error {
	// The rollback must run even when the deploy was cancelled.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.rollbackTimeout(d))
	defer cancel()
	retry := r.planRetry(r.unreachable(rctx, d, cause), d, failedStep)
	// A deploy superseded by a newer commit is rolled back, not
	// quarantined: nothing was wrong with it.
	if retry == nil && d.kind != KindSelfHeal && d.kind != KindRollback && !errors.Is(cause, errSuperseded) {
		r.state.AddQuarantine(Quarantine{SpecHash: d.target.SpecHash, Commit: d.target.Commit, Version: d.target.Version,
			Reason: fmt.Sprintf("%s failed: %v", failedStep, cause), DeployID: d.id, At: time.Now().UTC()})
	}
	// Recorded before acting: a reconciler killed during the rollback
	// finishes the rollback when it restarts, and never retries the deploy.
	// The rollback goes ahead even when the record fails: it returns to
	// what state.json records as deployed, and leaving a failed deploy
	// half done would be worse.
	p := d.progress(StepRollback)
	p.Failed, p.FailedStep = cause.Error(), failedStep
	r.state.InProgress = p
	if err := r.saveStateErr(); err != nil {
		d.log.Error("rolling back although state.json could not record it", "err", err)
		cause = fmt.Errorf("%w; %v", cause, err)
	}
	r.keepEvidence(rctx, d, failedStep, cause)
	outcome := OutcomeFailed
	if d.started || d.swapped {
		r.event(d, StepRollback, PhaseStart, 0, cause.Error())
		t0 := time.Now()
		if err := r.rollback(rctx, d); err != nil {
			r.event(d, StepRollback, PhaseFail, time.Since(t0), err.Error())
			cause = fmt.Errorf("%w; rollback: %v", cause, err)
		} else {
			r.event(d, StepRollback, PhaseEnd, time.Since(t0), "")
			outcome = OutcomeRolledBack
		}
		d.steps = append(d.steps, StepTiming{Name: StepRollback, Outcome: outcome, Duration: time.Since(t0)})
	}
	d.retry = retry
	r.finish(d, outcome, failedStep, cause.Error())
	return fmt.Errorf("%s %s %s at %s: %w", d.kind, d.id, outcome, failedStep, cause)
}

// rollbackTimeout bounds a rollback: routing back, and stopping the new
// color gracefully (its own drain).
func (r *Reconciler) rollbackTimeout(d *deploy) time.Duration {
	return 2*time.Minute + r.stopTimeout(d)
}

// finish records a finished deploy in state.json, history and metrics.
// A succeeded deploy that something degraded is recorded as degraded.
func (r *Reconciler) finish(d *deploy, outcome, failedStep, reason string) {
	now := time.Now().UTC()
	if outcome == OutcomeSucceeded && len(d.degraded) > 0 {
		outcome, reason = OutcomeDegraded, degradedReason(d.degraded)
	}
	rec := DeployRecord{ID: d.id, Kind: d.kind, Strategy: d.strategy, Outcome: outcome, Reason: reason, FailedStep: failedStep,
		From: d.from, To: d.to, FromVersion: d.fromVer, ToVersion: d.target.Version, Commit: d.target.Commit,
		SpecHash: d.target.SpecHash, StartedAt: d.begun, FinishedAt: now, Duration: now.Sub(d.begun), Steps: d.steps,
		Degraded: d.degraded, Retry: d.retry, Evidence: d.evidence, EvidenceError: d.evidenceErr}
	r.state.InProgress = nil
	r.state.LastDeploy = rec.Summary()
	r.noteRetry(d, outcome)
	r.saveState()
	if err := r.history.Append(rec); err != nil {
		r.log.Error("append history", "err", err)
	}
	r.metrics.deploys.WithLabelValues(outcome).Inc()
	r.metrics.deployDuration.WithLabelValues(d.strategy).Observe(rec.Duration.Seconds())
	r.metrics.lastDeploy.WithLabelValues(outcome).Set(float64(now.Unix()))
	if d.drainTook > 0 {
		r.metrics.lastDrain.Set(d.drainTook.Seconds())
		r.metrics.lastDrainIn.Set(float64(d.drainInFlight))
		r.metrics.lastDrainLeft.Set(float64(d.drainLeft))
	}
	lvl := slog.LevelInfo
	if outcome != OutcomeSucceeded {
		lvl = slog.LevelWarn
	}
	d.log.Log(context.Background(), lvl, "deploy finished", "outcome", outcome, "failed_step", failedStep,
		"reason", reason, "duration", rec.Duration)
	octx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.publish(r.observe(octx))
}

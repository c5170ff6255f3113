package reconciler

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Retry backoff of a deploy that failed for a reason of the environment
// (failure.go): RetryBase after the first failed attempt, doubling with
// each one up to RetryMax, each wait jittered by ±RetryJitter so that
// reconcilers on one host do not retry in step.
const (
	RetryBase   = 5 * time.Second
	RetryMax    = 5 * time.Minute
	RetryJitter = 0.1
)

// RetryState is a desired state whose deploy failed for a reason of the
// environment and is tried again by itself at NextAttemptAt (state.json
// and status `retry`). A new desired state, a successful deploy, a
// permanent failure or zdml deploy (which deploys at once) end it.
type RetryState struct {
	SpecHash      string    `json:"spec_hash"`
	Commit        string    `json:"commit,omitempty"`
	Version       string    `json:"version,omitempty"`
	Attempt       int       `json:"attempt"` // failed attempts so far
	Kind          string    `json:"kind"`    // port_in_use, docker_unavailable, disk, ... (TransientKinds)
	Reason        string    `json:"reason"`
	FailedStep    string    `json:"failed_step"`
	DeployID      string    `json:"deploy_id"`
	Since         time.Time `json:"since"` // the first failed attempt
	NextAttemptAt time.Time `json:"next_attempt_at"`
}

// retryBackoff is the wait after the attempt-th failed attempt, before
// jitter: RetryBase, doubled per attempt, at most RetryMax.
func retryBackoff(attempt int) time.Duration {
	return min(RetryBase<<min(max(attempt-1, 0), 16), RetryMax)
}

// jitter spreads d by ±RetryJitter, never beyond RetryMax.
func jitter(d time.Duration) time.Duration {
	f := 1 + RetryJitter*(2*rand.Float64()-1)
	return min(time.Duration(float64(d)*f), RetryMax)
}

// planRetry decides whether deploy d, failed at step with cause, is
// retried: a deploy the daemon makes (not a rollback nor a self-heal,
// which back off on their own) that failed for a reason of the
// environment. It returns the retry to record, or nil.
func (r *Reconciler) planRetry(cause error, d *deploy, step string) *RetryState {
	kind := transientKind(cause)
	if kind == "" || d.kind == KindRollback || d.kind == KindSelfHeal || d.target.SpecHash == "" {
		return nil
	}
	now := time.Now().UTC()
	rs := &RetryState{SpecHash: d.target.SpecHash, Commit: d.target.Commit, Version: d.target.Version, Attempt: 1,
		Kind: kind, Reason: cause.Error(), FailedStep: step, DeployID: d.id, Since: now}
	if prev := r.state.Retry; prev != nil && prev.SpecHash == rs.SpecHash {
		rs.Attempt, rs.Since = prev.Attempt+1, prev.Since
	}
	rs.NextAttemptAt = now.Add(jitter(retryBackoff(rs.Attempt)))
	return rs
}

// noteRetry records, when deploy d finishes, whether its desired state is
// to be retried: d.retry when it failed for a reason of the environment,
// nothing once it succeeded or failed for good.
func (r *Reconciler) noteRetry(d *deploy, outcome string) {
	if rs := d.retry; rs != nil {
		r.state.Retry = rs
		r.metrics.retries.WithLabelValues(rs.Kind).Inc()
		r.events.Emit(Event{DeployID: d.id, Step: rs.FailedStep, Phase: PhaseInfo, Color: d.to, Version: d.target.Version,
			Commit: d.target.Commit, Message: rs.Describe(time.Now())})
		return
	}
	if rs := r.state.Retry; rs != nil && rs.SpecHash == d.target.SpecHash && d.kind != KindRollback && d.kind != KindSelfHeal {
		r.state.Retry = nil
	}
}

// retryWaiting reports whether the deploy of want waits for its next
// attempt. A retry recorded for another desired state is dropped.
func (r *Reconciler) retryWaiting(want Revision) bool {
	rs := r.state.Retry
	if rs == nil {
		return false
	}
	if rs.SpecHash != want.SpecHash {
		r.state.Retry = nil
		r.saveState()
		return false
	}
	return time.Now().Before(rs.NextAttemptAt)
}

// Describe says what failed and when the next attempt is.
func (rs *RetryState) Describe(now time.Time) string {
	return fmt.Sprintf("attempt %d failed at %s (%s, transient): %s; next attempt at %s (in %s)", rs.Attempt, rs.FailedStep,
		rs.Kind, rs.Reason, rs.NextAttemptAt.Format(time.RFC3339), max(rs.NextAttemptAt.Sub(now), 0).Round(time.Second))
}

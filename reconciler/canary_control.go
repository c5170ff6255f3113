package reconciler

import (
	"context"
	"errors"
	"fmt"
)

// canaryInProgress reports whether state.json records a canary deploy
// that has not finished (a killed reconciler's, when no daemon runs).
func (r *Reconciler) canaryInProgress() bool {
	p := r.state.InProgress
	return p != nil && canaryTarget(p.Target.Spec) && r.state.Canary != nil && r.state.Canary.DeployID == p.DeployID
}

// canaryControl takes a canary action while no canary step waits for it:
// from a CLI with no daemon running, where state.json records a canary
// that a killed reconciler left. Abort rolls it back now; promote
// finishes it to all traffic now; pause and resume are recorded for the
// daemon that resumes it.
func (r *Reconciler) canaryControl(ctx context.Context, req Request) (string, error) {
	if !r.canaryInProgress() {
		return "", errors.New("no canary is in progress")
	}
	p, c := r.state.InProgress, r.state.Canary
	switch req.Action {
	case ActionAbort:
		d := r.deployOf(p, r.observe(ctx))
		if err := r.fail(ctx, d, p.Step, errCanaryAborted); err != nil && r.state.LastDeploy != nil && r.state.LastDeploy.ID != d.id {
			return "", err
		}
		return r.describeAborted(d.id)
	case ActionPromote:
		c.Status = CanaryPromoting
		if err := r.saveStateErr(); err != nil {
			return "", err
		}
		if err := r.resume(ctx, r.observe(ctx)); err != nil {
			return "", err
		}
		return r.describeLast()
	case ActionPause, ActionResume:
		c.Paused = req.Action == ActionPause
		if err := r.saveStateErr(); err != nil {
			return "", err
		}
		return fmt.Sprintf("canary %s: %s recorded at %d%%; the reconciler daemon continues from there", p.DeployID, req.Action, c.Weight), nil
	}
	return "", fmt.Errorf("unknown canary action %q", req.Action)
}

// describeAborted says what became of a deploy that was asked to abort or
// roll back: never "rolled back" unless it was.
func (r *Reconciler) describeAborted(id string) (string, error) {
	l := r.state.LastDeploy
	switch {
	case l == nil || l.ID != id:
		return "", fmt.Errorf("deploy %s was asked to stop, but no outcome is recorded for it yet (zdml status)", id)
	case l.Outcome == OutcomeRolledBack:
		return fmt.Sprintf("deploy %s aborted and rolled back: %s serves %s", id, r.state.ActiveColor, l.FromVersion), nil
	case committed(l.Outcome):
		return "", fmt.Errorf("deploy %s had passed verify and finished (%s): nothing was aborted; %s serves %s (zdml rollback goes back to %s)",
			id, l.Outcome, r.state.ActiveColor, l.ToVersion, l.FromVersion)
	}
	return "", fmt.Errorf("deploy %s aborted, but %s: %s", id, l.Outcome, l.Reason)
}

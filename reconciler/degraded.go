package reconciler

import (
	"strings"
)

// Degradation is why a deploy that committed its new version is not a
// clean success: the new version serves, so nothing is rolled back, but
// something a user would notice went wrong on the way (as Argo Rollouts'
// Degraded and Flux's Ready condition with a reason). Its Reason is the
// Degraded condition's reason.
type Degradation struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Degradation reasons.
const (
	// DegradedDrainTimedOut: the drain ended by its timeout (or before
	// nginx would cut what its retired workers carry) with requests still
	// in flight on the old color, or with a reading it could not take.
	DegradedDrainTimedOut = "DrainTimedOut"
	// DegradedOldColorExited: the old color exited during the drain,
	// with requests in flight: they were cut.
	DegradedOldColorExited = "OldColorExited"
	// DegradedStopFailed: the old color could not be stopped after verify
	// passed; it was retried, and it keeps running beside the new one.
	DegradedStopFailed = "StopFailed"
	// DegradedAfterVerify: another step failed after verify passed.
	DegradedAfterVerify = "FailedAfterVerify"
)

// degrade records that deploy d, at step, is degraded: in the deploy (its
// history record and outcome), in state.json's record of the deploy in
// progress (a resumed deploy keeps it), and as a `degraded` event.
func (r *Reconciler) degrade(d *deploy, step, reason, msg string) {
	d.degraded = append(d.degraded, Degradation{Reason: reason, Message: msg})
	if p := r.state.InProgress; p != nil && p.DeployID == d.id {
		p.Degraded = d.degraded
		r.saveState()
	}
	r.event(d, step, PhaseDegraded, 0, msg)
	d.log.Warn("deploy degraded", "step", step, "reason", reason, "msg_detail", msg)
}

// degradedReason joins the messages of what degraded a deploy.
func degradedReason(ds []Degradation) string {
	msgs := make([]string, len(ds))
	for i, dg := range ds {
		msgs[i] = dg.Message
	}
	return strings.Join(msgs, "; ")
}

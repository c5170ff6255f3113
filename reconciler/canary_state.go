package reconciler

import (
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Canary states, as status shows them.
const (
	CanaryProgressing  = "progressing"  // a timed pause runs, or the next step is due
	CanaryInconclusive = "inconclusive" // a pause is over, but no window passed yet: waiting for traffic
	CanaryPaused       = "paused"       // zdml pause, or a pause: {} step: waiting for a human
	CanaryPromoting    = "promoting"    // zdml promote or the last step: going to 100 %
	CanaryAborting     = "aborting"     // weight 0, the canary drains and stops
)

// maxCanaryWindows bounds the analysis windows state.json keeps.
const maxCanaryWindows = 12

// CanaryState is a canary in progress, recorded in state.json before each
// change reaches nginx: a reconciler killed mid-canary resumes at the
// recorded step and weight, and nginx keeps splitting traffic meanwhile.
type CanaryState struct {
	DeployID string     `json:"deploy_id"`
	Canary   spec.Color `json:"canary"`
	Stable   spec.Color `json:"stable"`
	// Step is the index of the current step in spec.strategy.steps;
	// len(steps) once every step ran.
	Step int `json:"step"`
	// Weight is the share of user traffic nginx sends to the canary.
	Weight int `json:"weight"`
	// Sticky is spec.strategy.sticky: user, or none (split per request).
	Sticky string `json:"sticky"`
	// StepStarted is when the current step began (a pause's clock).
	StepStarted time.Time `json:"step_started"`
	// Passed is whether a window passed since the current step began: a
	// timed pause ends only then, so missing data never promotes.
	Passed bool `json:"passed"`
	// Paused is a human's `zdml pause` (or a pause: {} step), cleared by
	// zdml resume or zdml promote.
	Paused bool `json:"paused"`
	// Failures counts failed windows; more than failureLimit abort.
	Failures int    `json:"failures"`
	Status   string `json:"status"`
	Message  string `json:"message,omitempty"`
	// Windows are the last analysis decisions, oldest first.
	Windows []analysis.Decision `json:"windows,omitempty"`
}

// record keeps a decision, dropping the oldest beyond maxCanaryWindows.
func (c *CanaryState) record(d analysis.Decision) {
	c.Windows = append(c.Windows, d)
	if n := len(c.Windows); n > maxCanaryWindows {
		c.Windows = append([]analysis.Decision(nil), c.Windows[n-maxCanaryWindows:]...)
	}
}

// Last is the latest analysis decision, or nil.
func (c *CanaryState) Last() *analysis.Decision {
	if c == nil || len(c.Windows) == 0 {
		return nil
	}
	return &c.Windows[len(c.Windows)-1]
}

// MaintenanceState is maintenance mode (zdml maintenance on): nginx answers
// user routes with 503 and Retry-After, health routes keep answering.
type MaintenanceState struct {
	Message    string        `json:"message"`
	RetryAfter time.Duration `json:"retry_after_ns"`
	Since      time.Time     `json:"since"`
}

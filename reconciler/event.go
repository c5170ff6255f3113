package reconciler

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Event phases.
const (
	PhaseStart    = "start"
	PhaseEnd      = "end"
	PhaseFail     = "fail"
	PhaseRollback = "rollback"
	PhaseInfo     = "info"
	// PhaseDegraded follows a step's end when the step left the deploy
	// degraded (a drain that timed out, a stop that failed after verify):
	// the deploy goes on, and its outcome is degraded.
	PhaseDegraded = "degraded"
)

// Event is one line of events.jsonl in the state directory: a machine-readable
// record of a deploy step starting, ending or failing, or of a self-heal. The
// load harness reads these to draw the deploy timeline.
type Event struct {
	Time     time.Time `json:"time"`
	DeployID string    `json:"deploy_id,omitempty"`
	Step     string    `json:"step"`
	Phase    string    `json:"phase"`
	// Color and Version are what the step acts on: the old color for
	// drain and stop, the new one for the other steps of a deploy.
	Color    spec.Color    `json:"color,omitempty"`
	Version  string        `json:"version,omitempty"`
	Commit   string        `json:"commit,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Message  string        `json:"message,omitempty"`
	// Weight is the canary's share of user traffic, on canary events.
	Weight *int `json:"weight,omitempty"`
	// Analysis is a canary analysis window, on the events that judge one.
	Analysis *analysis.Decision `json:"analysis,omitempty"`
	// Quality is the quality gate's verdict, on the event that records it.
	Quality *quality.Verdict `json:"quality,omitempty"`
}

// ReadEvents decodes a stream of JSON-lines events.
func ReadEvents(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return out, fmt.Errorf("events line %d: %w", line, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

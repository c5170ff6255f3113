package reports

import (
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/loadgen"
)

// TestDurationCellPrewarm: a prewarm's duration names its fast deploy once
// ("... fast deploy", not "... fast deploy deploy").
func TestDurationCellPrewarm(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	d := &loadgen.DeployWindow{Start: at(10), WarmEnd: at(12.5), PromoteStart: at(20), End: at(21.5),
		Events: []loadgen.Event{{Time: at(10), Step: "preflight", Phase: "start"}}}
	r := &Report{Analysis: &loadgen.Analysis{Start: start, End: at(60), Deploy: d}}
	if got, want := r.durationCell(), "60.0 s run, 2.5 s prewarm + 1.5 s fast deploy"; got != want {
		t.Errorf("durationCell() = %q, want %q", got, want)
	}
}

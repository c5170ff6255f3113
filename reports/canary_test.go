package reports

import (
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/loadgen"
)

// TestCanaryStepsCountFailures counts each weight's requests by their
// start, a failed or cut one included, so a step is shown clean only when
// no request that started in it failed.
func TestCanaryStepsCountFailures(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	recs := []loadgen.Record{
		{Start: at(5), Status: 200},                       // before the canary: in no step
		{Start: at(10), Status: 200},                      // the 20 % step's first instant
		{Start: at(12), Status: 200, Error: "stream cut"}, // cut: failed
		{Start: at(19.9), Status: 503},                    // failed
		{Start: at(20), Status: 200},                      // the 50 % step
		{Start: at(29), Status: 200},
	}
	r := &Report{
		Data: &loadgen.RunData{Records: recs},
		Analysis: &loadgen.Analysis{Start: start, Canary: &loadgen.CanaryTrace{Color: "green", MaxWeight: 50, Spans: []loadgen.WeightSpan{
			{From: at(10), To: at(20), Weight: 20},
			{From: at(20), To: at(30), Weight: 50},
		}}},
	}
	var b strings.Builder
	r.canarySection(&b)
	for _, row := range []string{"| 20% | +10.0 s | +20.0 s | 3 | 2 |", "| 50% | +20.0 s | +30.0 s | 2 | 0 |"} {
		if !strings.Contains(b.String(), row) {
			t.Errorf("canary section lacks %q:\n%s", row, b.String())
		}
	}
}

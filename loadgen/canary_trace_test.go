package loadgen

import (
	"testing"
	"time"
)

// TestCanaryAbortTimes tells the abort itself (from the window the
// analysis aborted on to weight 0) from the wait failureLimit adds (from
// the first failed window), and ignores failed windows after weight 0.
func TestCanaryAbortTimes(t *testing.T) {
	start := time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	weight := func(w int) *int { return &w }
	window := func(s float64, verdict string) Event {
		return Event{Time: at(s), Step: StepCanary, Color: "green", Analysis: &CanaryDecision{At: at(s), Weight: 20, Verdict: verdict}}
	}
	w := &DeployWindow{Events: []Event{
		{Time: at(10), Step: StepCanary, Color: "green", Weight: weight(20)},
		window(25, "inconclusive"),
		window(40, "fail"),
		window(55, "fail"), // past failureLimit 1: the abort
		{Time: at(55.4), Step: StepCanary, Color: "green", Weight: weight(0)},
		window(70, "fail"), // a late decision after weight 0
	}}
	a := &Analysis{Canary: canaryTrace(w, nil, at(80))}
	for agg, want := range map[string]float64{"to_weight_zero": 0.4, "first_fail_to_weight_zero": 15.4, "failed_windows": 3, "max_weight": 20} {
		got, err := a.canaryValue(agg)
		if err != nil || got < want-0.001 || got > want+0.001 {
			t.Errorf("%s = %v, %v; want %v", agg, got, err, want)
		}
	}
}

// TestCanaryPromotionEndsSplit: the canary step's end (the promotion, all
// traffic to the canary) ends the last weight's span, so requests after it
// are not counted at that weight.
func TestCanaryPromotionEndsSplit(t *testing.T) {
	start := time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	weight := func(w int) *int { return &w }
	w := &DeployWindow{Events: []Event{
		{Time: at(10), Step: StepCanary, Color: "green", Weight: weight(20)},
		{Time: at(40), Step: StepCanary, Color: "green", Weight: weight(50)},
		{Time: at(70), Step: StepCanary, Color: "green", Weight: weight(50), Message: "promote: all traffic to green"},
		{Time: at(70.1), Step: StepCanary, Phase: PhaseEnd, Color: "green"},
		{Time: at(70.2), Step: "drain", Phase: "start"},
	}}
	tr := canaryTrace(w, nil, at(120))
	if len(tr.Spans) != 2 || !tr.Spans[1].To.Equal(at(70.1)) || tr.Spans[1].Weight != 50 {
		t.Errorf("spans %+v; want 20%% from 10 s to 40 s and 50%% from 40 s to 70.1 s", tr.Spans)
	}
}

package loadgen

import (
	"testing"
	"time"
)

// TestSeriesTrace cuts a run of three deploys (the third rolled back) into
// windows from their step events, and counts the requests inside and
// outside them: one request every 100 ms for 20 s, windows at 5-7 s,
// 8-10 s and 12-13 s.
func TestSeriesTrace(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	d := &RunData{Info: &RunInfo{Started: t0, Ended: at(20)}}
	windows := []struct {
		from, to float64
		commit   string
		outcome  string
		expect   string
	}{
		{5, 7, "c1aaaaaaaa", ExpectSucceeded, ExpectSucceeded},
		{8, 10, "c2bbbbbbbb", ExpectSucceeded, ExpectSucceeded},
		{12, 13, "c3cccccccc", ExpectRolledBack, ExpectSucceeded},
	}
	for i, w := range windows {
		id := "d" + w.commit[:2]
		d.Info.Deploys = append(d.Info.Deploys, &DeployInfo{Commit: w.commit, CommittedAt: at(w.from - 0.5), Expect: w.expect,
			Outcome: &Outcome{Result: w.outcome}})
		end := Event{Time: at(w.to), DeployID: id, Commit: w.commit, Step: StepRecord, Phase: PhaseEnd}
		if w.outcome == ExpectRolledBack {
			end.Step = StepRollback
		}
		d.Events = append(d.Events,
			Event{Time: at(w.from), DeployID: id, Commit: w.commit, Step: StepPreflight, Phase: PhaseStart},
			Event{Time: at(w.from + 0.5), Step: StepSelfHeal, Phase: PhaseStart}, // no deploy's
			end)
		_ = i
	}
	for i := range 200 {
		d.Records = append(d.Records, Record{Seq: uint64(i), Start: at(float64(i) / 10), Latency: 10 * time.Millisecond, Status: 200})
	}
	a := Analyze(d)
	s := a.Series
	if s == nil || a.Deploy != nil {
		t.Fatalf("series %v, deploy %v: want a series and no single deploy", s, a.Deploy)
	}
	got := map[string]int{"in": s.In.Requests, "outside": s.Outside.Requests, "before": s.Before.Requests,
		"between": s.Between.Requests, "after": s.After.Requests, "w1": s.Windows[0].Stats.Requests, "w3": s.Windows[2].Stats.Requests}
	want := map[string]int{"in": 50, "outside": 150, "before": 50, "between": 30, "after": 70, "w1": 20, "w3": 10}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d requests, want %d", k, got[k], v)
		}
	}
	if s.Count(ExpectSucceeded) != 2 || s.Count(ExpectRolledBack) != 1 || s.Unexpected() != 1 || s.WindowTime() != 5*time.Second {
		t.Errorf("succeeded %d, rolled back %d, unexpected %d, window time %s; want 2, 1, 1, 5s",
			s.Count(ExpectSucceeded), s.Count(ExpectRolledBack), s.Unexpected(), s.WindowTime())
	}
	if len(s.Windows[0].Events) != 2 {
		t.Errorf("window 1 has %d events, want its 2 (a self-heal is no deploy's)", len(s.Windows[0].Events))
	}
	var ts Thresholds
	for _, th := range [][2]string{{"http_reqs{phase:deploy}", "count == 50"}, {"http_reqs{phase:outside}", "count == 150"},
		{"deploys", "count == 3"}, {"deploys", "rolled_back == 1"}, {"deploys", "unexpected == 1"}} {
		p, err := ParseThreshold(th[0], th[1])
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, p)
	}
	for _, r := range a.Check(ts) {
		if !r.Pass {
			t.Errorf("%s: got %s (%s)", r.Text, r.Got, r.Note)
		}
	}
}

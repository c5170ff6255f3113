package loadgen

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestEventsContract decodes what the reconciler writes: the harness reads
// events.jsonl by the contract, so a renamed field would show here.
func TestEventsContract(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	want := reconciler.Event{Time: now, DeployID: "d1", Step: reconciler.StepSwap, Phase: reconciler.PhaseEnd,
		Color: spec.Green, Version: "v2", Commit: "abc1234", Duration: 260 * time.Millisecond, Message: "nginx reloaded"}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvents(bytes.NewReader(append(b, '\n')))
	if err != nil || len(got) != 1 {
		t.Fatalf("decode: %v, %d events", err, len(got))
	}
	g := got[0]
	if !g.Time.Equal(want.Time) || g.DeployID != want.DeployID || g.Step != StepSwap || g.Phase != PhaseEnd ||
		g.Color != "green" || g.Version != "v2" || g.Commit != "abc1234" || g.Duration != want.Duration || g.Message != want.Message {
		t.Errorf("decoded %+v from %s", g, b)
	}
}

func TestEventTailReadsOnlyNewCompleteLines(t *testing.T) {
	path := t.TempDir() + "/events.jsonl"
	old := `{"time":"2026-01-01T00:00:00Z","step":"record","phase":"end"}` + "\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	tail := NewEventTail(path)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	defer f.Close()
	f.WriteString(`{"time":"2026-01-01T00:00:01Z","step":"preflight","phase":"start"}` + "\n" + `{"time":"2026-01-01T00:00:02Z","st`)
	if err := tail.Poll(); err != nil {
		t.Fatal(err)
	}
	if evs := tail.Events(); len(evs) != 1 || evs[0].Step != "preflight" {
		t.Fatalf("after a line and a half: %+v, want only the preflight event", evs)
	}
	f.WriteString(`ep":"start","phase":"start"}` + "\n")
	_ = tail.Poll()
	if last, _ := tail.Last(); last.Step != "start" || len(tail.Events()) != 2 {
		t.Errorf("after the rest of the line: %+v", tail.Events())
	}
}

func TestPhases(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ev := func(s float64, step, phase string) Event {
		return Event{Time: at(s), DeployID: "d", Step: step, Phase: phase, Commit: "c0ffee12"}
	}
	tests := []struct {
		name   string
		events []Event
		want   string
		result string
	}{
		{"blue/green", []Event{ev(10, "preflight", "start"), ev(12, "warmup", "end"), ev(12, "swap", "start"), ev(12.5, "drain", "start"),
			ev(15, "drain", "end"), ev(16, "record", "end")}, "before 0-10,warmup 10-12,swap 12-12.5,drain 12.5-15,after 15-30", "succeeded"},
		{"rollback at warm-up", []Event{ev(10, "preflight", "start"), ev(13, "warmup", "fail"), ev(13, "rollback", "start"),
			ev(14, "rollback", "end")}, "before 0-10,warmup 10-13,rollback 13-14,after 14-30", "rolled_back"},
		{"no events", nil, "before 0-30", "not started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &RunData{Info: &RunInfo{Started: t0, Ended: at(30),
				Deploy: &DeployInfo{Commit: "c0ffee1234", CommittedAt: at(9.5)}}, Events: tt.events}
			a := Analyze(d)
			var got []string
			for _, p := range a.Phases {
				got = append(got, p.Name+" "+trimSec(p.From.Sub(t0))+"-"+trimSec(p.To.Sub(t0)))
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("phases %s, want %s", strings.Join(got, ","), tt.want)
			}
			if a.Deploy.Outcome != tt.result {
				t.Errorf("outcome %s, want %s", a.Deploy.Outcome, tt.result)
			}
		})
	}
}

func trimSec(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix((d.Round(time.Millisecond)).String(), "s"), ".000")
}

func TestCheckThresholds(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(s float64, lat time.Duration, status int) Record {
		return Record{Start: t0.Add(time.Duration(s * float64(time.Second))), Latency: lat, Status: status, Color: "blue"}
	}
	d := &RunData{Info: &RunInfo{Started: t0, Ended: t0.Add(20 * time.Second),
		Deploy: &DeployInfo{CommittedAt: t0.Add(5 * time.Second), Outcome: &Outcome{Result: "succeeded"}}},
		Events:  []Event{{Time: t0.Add(6 * time.Second), Step: "preflight", Phase: "start"}, {Time: t0.Add(10 * time.Second), Step: "record", Phase: "end"}},
		Records: []Record{rec(1, 100*time.Millisecond, 200), rec(2, 200*time.Millisecond, 200), rec(7, 500*time.Millisecond, 200), rec(8, 700*time.Millisecond, 503)}}
	a := Analyze(d)
	tests := []struct {
		key, expr string
		pass      bool
		got       string
	}{
		{"http_req_failed", "rate == 0", false, "25.00%"},
		{"http_req_failed{phase:before}", "count == 0", true, "0"},
		{"http_req_duration{phase:deploy}", "p99 <= 3x baseline", false, "700ms"},
		{"http_req_duration{phase:deploy}", "p(99) <= 4x baseline", true, "700ms"},
		{"http_reqs", "count >= 4", true, "4"},
		{"deploy", "outcome == succeeded", true, "succeeded"},
		{"deploy", "duration < 5s", true, "4s"},
		{"ttft", "p99 < 1s", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.key+" "+tt.expr, func(t *testing.T) {
			th, err := ParseThreshold(tt.key, tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			r := a.Check(Thresholds{th})[0]
			if r.Pass != tt.pass || r.Got != tt.got {
				t.Errorf("pass=%v got %q (bound %q, note %q); want pass=%v got %q", r.Pass, r.Got, r.Bound, r.Note, tt.pass, tt.got)
			}
		})
	}
}

func TestEditDesiredKeepsCommentsAndValidates(t *testing.T) {
	in, err := os.ReadFile("../desired.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := EditDesired("desired.yaml", in, DesiredChange{Model: spec.Model{Name: "demo", Version: "v2", Path: "demo-v2.gguf"}, Strategy: "prewarm"})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := spec.Parse("desired.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	if m := doc.Spec.Model; m.Version != "v2" || m.Path != "demo-v2.gguf" || m.SHA256 != "" || doc.Spec.Strategy.Type != "prewarm" {
		t.Errorf("edited spec: %+v strategy %s; want v2, demo-v2.gguf, no sha256 (it was v1's), prewarm", m, doc.Spec.Strategy.Type)
	}
	if !strings.Contains(string(out), "# desired.yaml: the state the reconciler converges") {
		t.Errorf("the edit dropped the file's comments:\n%s", out)
	}
	if _, err := EditDesired("desired.yaml", in, DesiredChange{Strategy: "rolling"}); err == nil || !strings.Contains(err.Error(), "spec.strategy.type") {
		t.Errorf("an invalid edit: err %v, want the spec's error naming spec.strategy.type", err)
	}
}

// TestPrewarmIsTwoDeploys: strategy prewarm makes the reconciler record
// the prewarm and then run the promote; both belong to the run's deploy,
// and the promote's start is kept to report the two durations apart.
func TestPrewarmIsTwoDeploys(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	evs := []Event{
		{Time: at(10), DeployID: "p", Step: "preflight", Phase: "start", Commit: "c0ffee12"},
		{Time: at(12), DeployID: "p", Step: "warmup", Phase: "end", Commit: "c0ffee12"},
		{Time: at(12.1), DeployID: "p", Step: "record", Phase: "end", Commit: "c0ffee12"},
		{Time: at(12.5), DeployID: "p", Step: "preflight", Phase: "start", Commit: "c0ffee12"},
		{Time: at(13), DeployID: "p", Step: "swap", Phase: "start", Commit: "c0ffee12"},
		{Time: at(14), DeployID: "p", Step: "record", Phase: "end", Commit: "c0ffee12"},
		{Time: at(20), DeployID: "z", Step: "self_heal", Phase: "info"},
	}
	d := &RunData{Info: &RunInfo{Started: t0, Ended: at(30), Deploy: &DeployInfo{Commit: "c0ffee1234", CommittedAt: at(9.5)}}, Events: evs}
	w := Analyze(d).Deploy
	if len(w.Events) != 6 || !w.PromoteStart.Equal(at(12.5)) || !w.WarmEnd.Equal(at(12)) || !w.End.Equal(at(14)) {
		t.Errorf("deploy window: %d events, promote %s, warm end %s, end %s; want 6, +12.5s, +12s, +14s",
			len(w.Events), w.PromoteStart.Sub(t0), w.WarmEnd.Sub(t0), w.End.Sub(t0))
	}
}

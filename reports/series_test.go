package reports

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/loadgen"
)

// seriesFixtureScenario is the scenario of the synthetic series run.
const seriesFixtureScenario = `name: soak
description: A synthetic soak.
stack:
  model: {name: tiny, version: v1, path: tiny.gguf}
load:
  rate: 10/s
  duration: 60s
  maxTokens: 16
  mix:
    - {kind: chat, weight: 1}
    - {kind: completions_stream, weight: 1, maxTokens: 256}
series:
  at: 20s
  every: 4s
  count: 3
  models:
    - {version: v2, path: tiny.gguf}
    - {version: v1, path: tiny.gguf}
  broken:
    every: 3
    model: {version: broken, path: broken-degenerate.gguf}
sampling: {every: 5s}
thresholds:
  http_req_failed: count == 0
  http_req_duration{phase:deploy}: p99 <= 1.25x baseline
  deploys: [count == 3, unexpected == 0]
  resources: growing == 0
`

// seriesFixture is a deterministic series run: 10 requests a second for
// 60 s, alternately a chat and a 256-token stream; deploys at 20-22 s,
// 24-26 s and 28-29 s (the third rolled back); requests take 100 ms
// outside the windows and 150 ms inside (streams twice that). Samples
// every 5 s: the reconciler flat, its goroutines growing by 2 a sample.
func seriesFixture(t *testing.T) *Report {
	t.Helper()
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	d := &loadgen.RunData{Dir: "testdata/none", Info: &loadgen.RunInfo{Scenario: "soak", ScenarioYAML: seriesFixtureScenario,
		ScenarioFile: "loadgen/scenarios/soak/soak.yaml", Command: "make soak", Started: t0, Ended: at(60), Rate: "10/s",
		Sampled: &loadgen.SampledStack{Every: "5s"}}}
	windows := [][2]float64{{20, 22}, {24, 26}, {28, 29}}
	versions := []string{"v2", "v1", "broken-3"}
	for i, w := range windows {
		commit := fmt.Sprintf("c%d00000000", i+1)
		id := fmt.Sprintf("d%d", i+1)
		di := &loadgen.DeployInfo{Commit: commit, CommittedAt: at(w[0] - 0.2), FromVersion: []string{"v1", "v2", "v1"}[i],
			ToVersion: versions[i], Strategy: "bluegreen", Expect: loadgen.ExpectSucceeded, Outcome: &loadgen.Outcome{Result: loadgen.ExpectSucceeded}}
		last := loadgen.Event{Time: at(w[1]), DeployID: id, Commit: commit, Step: loadgen.StepRecord, Phase: loadgen.PhaseEnd}
		drain := loadgen.Event{Time: at(w[1] - 0.5), DeployID: id, Commit: commit, Step: loadgen.StepDrain, Phase: loadgen.PhaseEnd,
			Message: "drained 1 in-flight requests in 480ms"}
		if i == 2 {
			di.Expect, di.Outcome.Result = loadgen.ExpectRolledBack, loadgen.ExpectRolledBack
			last.Step = loadgen.StepRollback
			drain = loadgen.Event{Time: at(w[1] - 0.5), DeployID: id, Commit: commit, Step: "ready", Phase: loadgen.PhaseFail,
				Message: "the model replied nothing"}
		}
		d.Info.Deploys = append(d.Info.Deploys, di)
		d.Events = append(d.Events, loadgen.Event{Time: at(w[0]), DeployID: id, Commit: commit, Step: loadgen.StepPreflight, Phase: loadgen.PhaseStart},
			drain, last)
	}
	inWindow := func(s float64) bool {
		for _, w := range windows {
			if s >= w[0] && s < w[1] {
				return true
			}
		}
		return false
	}
	for i := range 600 {
		s := float64(i) / 10
		rec := loadgen.Record{Seq: uint64(i), Start: at(s), Latency: 100 * time.Millisecond, Status: 200, Kind: loadgen.KindChat, MaxTokens: 16, Color: "blue"}
		if inWindow(s) {
			rec.Latency = 150 * time.Millisecond
		}
		if i%2 == 1 {
			rec.Kind, rec.MaxTokens, rec.Tokens, rec.Latency = loadgen.KindStream, 256, 256, 2*rec.Latency
		}
		d.Records = append(d.Records, rec)
	}
	for i := range 13 {
		smp := loadgen.Sample{Time: at(float64(i) * 5), Goroutines: 20 + 2*i, NginxWorkers: 2, ModelServers: 1,
			StateDir: map[string]int64{"events.jsonl": 4096, "history.jsonl": 4096 * int64(1+i/6)},
			Procs: []loadgen.ProcSample{{Name: loadgen.SubjectNginx, PIDs: []int{10, 11, 12}, RSS: 16 << 20, FDs: 40},
				{Name: loadgen.SubjectReconciler, PIDs: []int{20}, RSS: 30 << 20, FDs: 18}}}
		d.Samples = append(d.Samples, smp)
	}
	r, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSeriesMarkdownGolden(t *testing.T) {
	r := seriesFixture(t)
	var b bytes.Buffer
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	if want := golden(t, "synthetic-series.golden.md", b.Bytes()); !bytes.Equal(b.Bytes(), want) {
		t.Errorf("markdown differs from testdata/synthetic-series.golden.md (go test ./reports -update after checking):\n%s", b.String())
	}
	md := b.String()
	// 5 s of windows at 10/s; the baseline is the 200 requests before 20 s.
	for _, want := range []string{
		"**50 requests started inside one**, 0 of them failed",
		"Measured: 300 ms against 200 ms, **×1.50** (**not met**)",
		"| chat/16 | 25, 0, 150 ms / 150 ms / 150 ms | 100, 100 ms / 100 ms / 100 ms | ×1.50 / ×1.50 / ×1.50 |",
		"| completions_stream/256 (256 tokens on average) | 25, 0, ",
		"| 3 | `c300000000` | v1 → broken-3 | rolled_back | rolled_back |",
		"ready failed: the model replied nothing",
		"| reconciler goroutines | 13 | 1 | 23.0 | 40.0 | +17.0 | 5.0 |",
		"| reconciler RSS | 13 | 1 | 30.0 MiB | 30.0 MiB | +0.0 KiB |",
		"| state directory disk | 13 | 1 | 8.0 KiB | 12.0 KiB | +4.0 KiB |",
		"`resources: growing == 0` | 1 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if got := r.Outcome(); got != "2 succeeded, 1 rolled back" {
		t.Errorf("outcome %q", got)
	}
	if charts := r.resourceCharts(); len(charts) != 4 {
		t.Fatalf("%d resource charts, want 4", len(charts))
	}
	for _, c := range r.resourceCharts() {
		if png, err := c.make(); err != nil || len(png) < 1000 {
			t.Errorf("chart %s: %d bytes, %v", c.name, len(png), err)
		}
	}
}

package reports

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/loadgen"
)

// stormScenario is a short deploy storm on the tiny model: 4 deploys back
// to back under open-loop traffic holding 256-token streams.
const stormScenario = `name: e2e-storm
description: End-to-end test of a deploy storm on the tiny model.
stack:
  model: {name: tiny, version: v1, path: tiny.gguf}
  resources: {threads: 1, parallel: 8}
load:
  rate: 10/s
  duration: 15s
  timeout: 30s
  maxTokens: 8
  users: 100
  mix:
    - {kind: chat, weight: 3}
    - {kind: completions, weight: 3}
    - {kind: completions_stream, weight: 2}
    - {kind: completions_stream, weight: 2, maxTokens: 256}
series:
  at: 6s
  count: 4
  models:
    - {version: v2, path: tiny.gguf}
    - {version: v1, path: tiny.gguf}
  timeout: 90s
  after: 3s
thresholds:
  http_req_failed: count == 0
  deploys: [count == 4, succeeded == 4]
`

// TestDeployStormEndToEnd runs a short storm on a real stack and checks
// the report's deploy-window numbers against a recount from the raw files
// alone (vegeta's results, the reconciler's events.jsonl, run.json), made
// here without loadgen's analysis.
func TestDeployStormEndToEnd(t *testing.T) {
	rep, runDir, md := runE2E(t, stormScenario)
	info := rep.Data.Info
	var versions []string
	for _, d := range info.Deploys {
		versions = append(versions, d.ToVersion)
	}
	if got := strings.Join(versions, " "); got != "v2 v1 v2 v1" || rep.Outcome() != "4 succeeded, 0 rolled back" {
		t.Errorf("deployed %q, outcome %q; want v2 v1 v2 v1, all succeeded", got, rep.Outcome())
	}
	windows := rawWindows(t, runDir, info.Deploys)
	results := rawResults(t, filepath.Join(runDir, loadgen.ResultsFile))
	var in []time.Duration
	failed, streams := 0, 0
	for _, r := range results {
		if r.Error != "" || r.Code < 200 || r.Code > 299 {
			failed++
		}
		if r.Headers.Get(loadgen.HeaderMaxTokens) == "256" {
			streams++
			if r.Headers.Get(loadgen.HeaderTokens) != "256" {
				t.Errorf("256-token stream %d reported %q tokens", r.Seq, r.Headers.Get(loadgen.HeaderTokens))
			}
		}
		for _, w := range windows {
			if !r.Timestamp.Before(w[0]) && r.Timestamp.Before(w[1]) {
				in = append(in, r.Latency)
			}
		}
	}
	t.Logf("raw: %d requests, %d failed, %d inside the windows, %d long streams", len(results), failed, len(in), streams)
	s := rep.Analysis.Series
	if failed != 0 || len(in) == 0 || s.In.Requests != len(in) || streams == 0 {
		t.Fatalf("report: %d in windows; raw recount: %d in windows, %d failed, %d long streams; want equal counts, none failed",
			s.In.Requests, len(in), failed, streams)
	}
	if want := fmt.Sprintf("**%d requests started inside one**, 0 of them failed", len(in)); !strings.Contains(md, want) {
		t.Errorf("report lacks %q", want)
	}
	slices.Sort(in)
	p99 := in[max(0, int(math.Ceil(0.99*float64(len(in))))-1)]
	if row := fmt.Sprintf("| all | %d, 0, ", len(in)); !strings.Contains(md, row) || !strings.Contains(md, " / "+ms(p99, 1)+" | ") {
		t.Errorf("report lacks the all row %q with p99 %s recounted from the raw results:\n%s", row, ms(p99, 1), md)
	}
}

// soakScenario is the soak's machinery in two minutes: a deploy every
// 30 s, the third of them a broken model that must roll back, and the
// stack sampled every 200 ms: a tiny deploy runs two model servers for
// only about half a second (CI saw all four windows fall between 500 ms
// samples), so a sample must land inside every window.
const soakScenario = `name: e2e-soak
description: End-to-end test of the soak's machinery on the tiny model.
stack:
  model: {name: tiny, version: v1, path: tiny.gguf}
  resources: {threads: 1, parallel: 8}
load:
  rate: 5/s
  duration: 2m
  timeout: 30s
  maxTokens: 8
  users: 100
  mix:
    - {kind: chat, weight: 2}
    - {kind: chat_user, weight: 1}
    - {kind: completions_stream, weight: 1, maxTokens: 128}
series:
  at: 15s
  every: 30s
  models:
    - {version: v2, path: tiny.gguf}
    - {version: v1, path: tiny.gguf}
  broken:
    every: 3
    model: {version: broken, path: broken-degenerate.gguf}
  timeout: 90s
  after: 5s
sampling: {every: 200ms}
thresholds:
  http_req_failed: count == 0
  deploys: [count == 4, rolled_back == 1, unexpected == 0]
`

// rawSample is samples.jsonl's line as this test reads it, apart from
// loadgen's own decoder.
type rawSample struct {
	Time  time.Time `json:"time"`
	Procs []struct {
		Name string `json:"name"`
		RSS  int64  `json:"rss_bytes"`
	} `json:"procs"`
	Goroutines   int `json:"reconciler_goroutines"`
	NginxWorkers int `json:"nginx_workers"`
	ModelServers int `json:"model_servers"`
}

// TestSoakEndToEnd runs the soak's machinery for two minutes on a real
// stack and checks that the report's resource numbers are computed from
// the raw samples: the medians of the reconciler's memory in the first
// and last thirds, recomputed here from samples.jsonl, are the report's.
func TestSoakEndToEnd(t *testing.T) {
	rep, runDir, md := runE2E(t, soakScenario)
	if got := rep.Outcome(); got != "3 succeeded, 1 rolled back" {
		t.Errorf("outcome %q, want 3 succeeded and the broken third rolled back", got)
	}
	if d := rep.Data.Info.Deploys; len(d) != 4 || d[2].ToVersion != "broken-3" || d[3].FromVersion != "v1" {
		t.Errorf("deploys %+v; want the third broken-3, the fourth from v1 (which kept serving)", d)
	}
	raw := readRawSamples(t, filepath.Join(runDir, loadgen.SamplesFile))
	if len(raw) < 400 || len(raw) != len(rep.Data.Samples) {
		t.Fatalf("%d raw samples, %d in the report; want ~600 (2 min at 200 ms), the same", len(raw), len(rep.Data.Samples))
	}
	start, end := rep.Analysis.Start, rep.Analysis.End
	third := end.Sub(start) / 3
	var first, last []float64
	servers := 0
	for i, s := range raw {
		if s.Goroutines <= 0 || s.NginxWorkers < 1 || s.ModelServers < 1 || s.ModelServers > 2 {
			t.Errorf("sample %d: goroutines %d, nginx workers %d, model servers %d", i, s.Goroutines, s.NginxWorkers, s.ModelServers)
		}
		servers = max(servers, s.ModelServers)
		for _, p := range s.Procs {
			if p.Name != loadgen.SubjectReconciler {
				continue
			}
			switch {
			case s.Time.Before(start.Add(third)):
				first = append(first, float64(p.RSS))
			case !s.Time.Before(end.Add(-third)):
				last = append(last, float64(p.RSS))
			}
		}
	}
	if servers != 2 || raw[len(raw)-1].ModelServers != 1 {
		t.Errorf("model servers: at most %d, %d at the end; want 2 during deploys and 1 after", servers, raw[len(raw)-1].ModelServers)
	}
	row := fmt.Sprintf("| reconciler RSS | %d | 1 | %s | %s |", len(first)+len(last)+countMiddle(raw, start, end), mib(median(first)), mib(median(last)))
	if !strings.Contains(md, row) {
		t.Errorf("report lacks %q, recomputed from samples.jsonl:\n%s", row, md)
	}
	for _, c := range []string{"memory", "files", "processes", "disk"} {
		p := filepath.Join(filepath.Dir(filepath.Dir(runDir)), "out", "img", rep.BaseName()+"-"+c+".png")
		if fi, err := os.Stat(p); err != nil || fi.Size() < 1000 {
			t.Errorf("chart %s: %v", c, err)
		}
	}
}

// runE2E runs a scenario on a real stack, writes its report from the run
// directory alone, and returns it with the run directory and markdown.
func runE2E(t *testing.T, yaml string) (*Report, string, string) {
	t.Helper()
	testenv.LookPath(t, "nginx", "nginx")
	testenv.LookPath(t, "git", "git")
	cfg := loadgen.StackConfig{Zdml: testenv.Binary(t, "zdml"), Modelserver: testenv.Binary(t, "modelserver"), ModelsDir: testenv.ModelsDir(t)}
	sc, err := loadgen.ParseScenario("e2e.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	runDir := filepath.Join(root, "runs", "run")
	info := loadgen.RunInfo{ScenarioYAML: yaml, ScenarioFile: "e2e.yaml", Command: "go test ./reports"}
	if _, err := loadgen.RunManaged(context.Background(), sc, cfg, runDir, info, loadgen.WithLogger(testLogger(t))); err != nil {
		t.Fatalf("run: %v", err)
	}
	rep, err := Load(runDir)
	if err != nil {
		t.Fatal(err)
	}
	mdPath, err := rep.Write(filepath.Join(root, "out"))
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(mdPath)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed() {
		t.Errorf("thresholds %d/%d, run error %q:\n%s", rep.PassedCount(), len(rep.Thresholds), rep.Data.Info.Error, md)
	}
	return rep, runDir, string(md)
}

// rawWindows are the deploys' windows from events.jsonl: the first and
// last event of the deploy ids that name each deploy's commit.
func rawWindows(t *testing.T, runDir string, deploys []*loadgen.DeployInfo) [][2]time.Time {
	t.Helper()
	f, err := os.Open(filepath.Join(runDir, loadgen.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type event struct {
		Time     time.Time `json:"time"`
		DeployID string    `json:"deploy_id"`
		Commit   string    `json:"commit"`
	}
	var evs []event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	var out [][2]time.Time
	for _, d := range deploys {
		ids := map[string]bool{}
		for _, e := range evs {
			if e.Commit != "" && strings.HasPrefix(d.Commit, e.Commit) || e.Commit != "" && strings.HasPrefix(e.Commit, d.Commit) {
				ids[e.DeployID] = ids[e.DeployID] || e.DeployID != ""
			}
		}
		var w [2]time.Time
		for _, e := range evs {
			if !ids[e.DeployID] {
				continue
			}
			if w[0].IsZero() || e.Time.Before(w[0]) {
				w[0] = e.Time
			}
			if e.Time.After(w[1]) {
				w[1] = e.Time
			}
		}
		out = append(out, w)
	}
	return out
}

func rawResults(t *testing.T, path string) []vegeta.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	var out []vegeta.Result
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

func readRawSamples(t *testing.T, path string) []rawSample {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []rawSample
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var s rawSample
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// countMiddle counts the samples of the middle third that have the
// reconciler (the trend counts every sample, the medians only two thirds).
func countMiddle(raw []rawSample, start, end time.Time) int {
	third := end.Sub(start) / 3
	n := 0
	for _, s := range raw {
		if s.Time.Before(start.Add(third)) || !s.Time.Before(end.Add(-third)) {
			continue
		}
		for _, p := range s.Procs {
			if p.Name == loadgen.SubjectReconciler {
				n++
			}
		}
	}
	return n
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// mib writes bytes as the report does, MiB with one decimal (the
// reconciler's memory is always above one MiB).
func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

package reports

import (
	"bufio"
	"flag"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/zero-downtime-ml/zdml/loadgen"
)

var regen = flag.Bool("regen-fixture", false, "rewrite the synthetic raw run in testdata/synthetic-run (then run with -update)")

// fixtureScenario is the scenario the synthetic run was made with.
const fixtureScenario = `name: deploy-under-load
description: Standard blue/green deploy of demo v2 under chat traffic.
seed:
  row: standard deploy under load
  duration: 217 s
  failed: 69%
  outcome: rolled back
stack:
  model: {name: demo, version: v1, path: demo-v1.gguf}
load:
  rate: 3/s
  duration: 40s
  timeout: 2s
deploy:
  at: 10s
  model: {name: demo, version: v2, path: demo-v2.gguf}
thresholds:
  http_req_failed: rate == 0
  http_req_duration{phase:deploy}: p99 <= 3x baseline
  ttft: p95 < 1s
  deploy: outcome == succeeded
`

// writeSyntheticRun writes a deterministic raw run: 3 requests/s for 40 s,
// a deploy from blue v1 to green v2 at 10 s, one timeout and one 503 in
// the warm-up, latency that rises while the standby warms.
func writeSyntheticRun(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	evs := []loadgen.Event{
		{Time: at(10.4), DeployID: "d1", Step: "preflight", Phase: "start", Version: "v2", Commit: "3f2a9c1d0e4b5a6978877665544332211"},
		{Time: at(10.5), DeployID: "d1", Step: "preflight", Phase: "end", Version: "v2", Duration: 100 * time.Millisecond},
		{Time: at(10.5), DeployID: "d1", Step: "start", Phase: "start", Color: "green", Version: "v2"},
		{Time: at(10.9), DeployID: "d1", Step: "start", Phase: "end", Color: "green", Version: "v2", Duration: 400 * time.Millisecond},
		{Time: at(10.9), DeployID: "d1", Step: "ready", Phase: "start", Color: "green", Version: "v2"},
		{Time: at(13.0), DeployID: "d1", Step: "ready", Phase: "end", Color: "green", Version: "v2", Duration: 2100 * time.Millisecond},
		{Time: at(13.0), DeployID: "d1", Step: "warmup", Phase: "start", Color: "green", Version: "v2"},
		{Time: at(14.2), DeployID: "d1", Step: "warmup", Phase: "end", Color: "green", Version: "v2", Duration: 1200 * time.Millisecond, Message: "1 prompt, 8 tokens in 410ms"},
		{Time: at(14.2), DeployID: "d1", Step: "swap", Phase: "start", Color: "green", Version: "v2"},
		{Time: at(14.4), DeployID: "d1", Step: "swap", Phase: "end", Color: "green", Version: "v2", Duration: 200 * time.Millisecond},
		{Time: at(14.4), DeployID: "d1", Step: "drain", Phase: "start", Color: "blue", Version: "v1"},
		{Time: at(16.1), DeployID: "d1", Step: "drain", Phase: "end", Color: "blue", Version: "v1", Duration: 1700 * time.Millisecond, Message: "in-flight 3 -> 0"},
		{Time: at(16.1), DeployID: "d1", Step: "verify", Phase: "start", Color: "green", Version: "v2"},
		{Time: at(16.3), DeployID: "d1", Step: "verify", Phase: "end", Color: "green", Version: "v2", Duration: 200 * time.Millisecond},
		{Time: at(16.3), DeployID: "d1", Step: "stop", Phase: "start", Color: "blue", Version: "v1"},
		{Time: at(16.5), DeployID: "d1", Step: "stop", Phase: "end", Color: "blue", Version: "v1", Duration: 200 * time.Millisecond},
		{Time: at(16.5), DeployID: "d1", Step: "record", Phase: "start", Version: "v2"},
		{Time: at(16.6), DeployID: "d1", Step: "record", Phase: "end", Version: "v2", Duration: 100 * time.Millisecond},
	}
	f, err := os.Create(filepath.Join(dir, loadgen.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := loadgen.WriteEvents(f, evs); err != nil {
		t.Fatal(err)
	}
	f.Close()
	writeSyntheticResults(t, dir, start)
	info := &loadgen.RunInfo{
		Scenario: "deploy-under-load", ScenarioYAML: fixtureScenario, ScenarioFile: "loadgen/scenarios/deploy-under-load.yaml",
		Command: "make loadtest-deploy", Target: "http://127.0.0.1:18080", Runtime: "process",
		Started: start, Ended: at(40.4), Rate: "3/s",
		Deploy: &loadgen.DeployInfo{Commit: "3f2a9c1d0e4b5a6978877665544332211", CommittedAt: at(10), FromVersion: "v1", ToVersion: "v2",
			Strategy: "bluegreen", Expect: "succeeded",
			Outcome: &loadgen.Outcome{Result: "succeeded", FromVersion: "v1", ToVersion: "v2", StartedAt: at(10.4), FinishedAt: at(16.6)}},
		Env: &loadgen.Environment{OS: "linux", Arch: "amd64", Kernel: "6.1.0", CPUModel: "Test CPU @ 2.0GHz", CPUs: 2,
			MemoryBytes: 24 << 30, GoVersion: "go1.26.8", Zdml: "0123456789ab", Vegeta: "v12.13.0", Nginx: "1.22.1",
			Models: []loadgen.ModelFile{{Name: "demo-v1.gguf", Bytes: 71_303_168, SHA256: "eb39fb06a4e88f1728849de683f95ebbd2311238080f2c9e2055dc7f26ea4da7"},
				{Name: "demo-v2.gguf", Bytes: 71_303_168, SHA256: "5d1c3a0e9f8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"}}},
	}
	if err := loadgen.WriteRunInfo(dir, info); err != nil {
		t.Fatal(err)
	}
}

func writeSyntheticResults(t *testing.T, dir string, start time.Time) {
	f, err := os.Create(filepath.Join(dir, loadgen.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	enc := vegeta.NewEncoder(w)
	rng := rand.New(rand.NewSource(1))
	for i := range 120 {
		ts := start.Add(time.Duration(i) * time.Second / 3)
		sec := ts.Sub(start).Seconds()
		color, version := "blue", "v1"
		if sec >= 14.4 {
			color, version = "green", "v2"
		}
		lat := time.Duration(300+rng.Intn(200)) * time.Millisecond
		if sec >= 10.5 && sec < 14.2 {
			lat += 300 * time.Millisecond // the standby competes for CPU
		}
		kind := loadgen.Kinds[i%4]
		res := &vegeta.Result{Attack: "deploy-under-load", Seq: uint64(i), Code: 200, Timestamp: ts, Latency: lat,
			Method: "POST", URL: "http://127.0.0.1:18080/chat", BytesOut: 40, BytesIn: 120,
			Headers: http.Header{loadgen.HeaderColor: {color}, loadgen.HeaderVersion: {version},
				loadgen.HeaderKind: {kind}, loadgen.HeaderStatus: {"200"}}}
		if kind == loadgen.KindStream {
			res.Headers.Set(loadgen.HeaderTTFT, strconv.FormatInt(int64(lat/4), 10))
		}
		switch i {
		case 35: // a timeout: no status, no color
			res.Code, res.Error, res.Latency, res.Headers = 0, "Post \"http://127.0.0.1:18080/chat\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)", 2*time.Second,
				http.Header{loadgen.HeaderKind: {kind}}
		case 38:
			res.Code, res.Error = 503, "503 Service Unavailable"
			res.Headers.Set(loadgen.HeaderStatus, "503")
		}
		if err := enc.Encode(res); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// largeFixtureReport is the synthetic run relabelled as a run of the
// large-model scenario by make loadtest-large, at another load average: the
// summary's second row, from another command and another run.
func largeFixtureReport(t *testing.T) *Report {
	t.Helper()
	d, err := loadgen.ReadRun(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	info, env := *d.Info, *d.Info.Env
	info.Scenario, info.Command = "deploy-under-load-large", "make loadtest-large"
	info.ScenarioYAML = strings.NewReplacer(
		"name: deploy-under-load", "name: deploy-under-load-large",
		"{name: demo, version: v1, path: demo-v1.gguf}", "{name: smollm2-shaped, version: v1, path: smollm2-shaped-v1.gguf}",
		"{name: demo, version: v2, path: demo-v2.gguf}", "{name: smollm2-shaped, version: v2, path: smollm2-shaped-v2.gguf}",
	).Replace(fixtureScenario)
	env.LoadAvg = "0.42 0.31 0.20"
	env.Models = []loadgen.ModelFile{
		{Name: "smollm2-shaped-v1.gguf", Bytes: 1_021_052_736, SHA256: "0cbf068b64d328d794c1f4aa04c1de1eb9821f2195717becd3f30b9d3325f6e3"},
		{Name: "smollm2-shaped-v2.gguf", Bytes: 1_021_052_736, SHA256: "3fa33a1bf3f660ce36e7ddf69ca5c04a319cd022bb0c4002d6fcd0b7d7e5b4f6"}}
	info.Env, d.Info = &env, &info
	r, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

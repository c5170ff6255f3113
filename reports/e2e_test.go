package reports

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/loadgen"
)

// e2eScenario deploys the tiny model under a new version label while all
// four kinds of request run: fast enough for CI, and a real deploy (the
// spec changes, so the standby starts, warms, swaps and drains).
const e2eScenario = `name: e2e-deploy-under-load
description: End-to-end test of a deploy under load on the tiny model.
stack:
  model: {name: tiny, version: v1, path: tiny.gguf}
load:
  rate: 8/s
  duration: 12s
  timeout: 20s
  maxTokens: 8
deploy:
  at: 3s
  model: {name: tiny, version: v2, path: tiny.gguf}
  expect: succeeded
  timeout: 90s
  after: 3s
thresholds:
  http_req_failed: [rate == 0, count == 0]
  deploy: outcome == succeeded
`

// TestDeployUnderLoadEndToEnd runs a short deploy-under-load scenario on a
// real stack (the zdml reconcile daemon, Debian's nginx, model servers on
// the tiny model, a temporary git repository) and checks that no request
// failed, that both colors served, and that the written report's numbers
// are the raw file's, recounted here without loadgen.
func TestDeployUnderLoadEndToEnd(t *testing.T) {
	testenv.LookPath(t, "nginx", "nginx")
	testenv.LookPath(t, "git", "git")
	cfg := loadgen.StackConfig{Zdml: testenv.Binary(t, "zdml"), Modelserver: testenv.Binary(t, "modelserver"),
		ModelsDir: testenv.ModelsDir(t)}
	sc, err := loadgen.ParseScenario("e2e.yaml", []byte(e2eScenario))
	if err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(t.TempDir(), "run")
	info := loadgen.RunInfo{ScenarioYAML: e2eScenario, ScenarioFile: "e2e.yaml", Command: "go test ./reports -run EndToEnd"}
	data, err := loadgen.RunManaged(context.Background(), sc, cfg, runDir, info, loadgen.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	rep, err := Load(runDir) // from the files alone, as zdml report does
	if err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	mdPath, err := rep.Write(outDir)
	if err != nil {
		t.Fatal(err)
	}

	total, failed, perColor := countRaw(t, filepath.Join(runDir, loadgen.ResultsFile))
	t.Logf("raw: %d requests, %d failed, by color %v; deploy %s", total, failed, perColor, DeployDuration(rep.Analysis.Deploy))
	if total != len(data.Records) || total < 60 {
		t.Errorf("raw file has %d results, the run returned %d; want the same, and ~100 (8/s for 12s+)", total, len(data.Records))
	}
	if failed != 0 {
		t.Errorf("%d of %d requests failed during the deploy; errors: %v", failed, total, rep.Analysis.All.Errors)
	}
	if perColor["blue"] == 0 || perColor["green"] == 0 {
		t.Errorf("requests per color %v: want both blue (before the swap) and green (after)", perColor)
	}
	a := rep.Analysis
	if a.All.Requests != total || a.All.Failed != failed || a.All.ByColor["blue"] != perColor["blue"] || a.All.ByColor["green"] != perColor["green"] {
		t.Errorf("report: %d requests, %d failed, %v by color; raw file: %d, %d, %v",
			a.All.Requests, a.All.Failed, a.All.ByColor, total, failed, perColor)
	}
	if rep.Outcome() != "succeeded" || !rep.Passed() {
		t.Errorf("outcome %s, thresholds %d/%d passed, run error %q", rep.Outcome(), rep.PassedCount(), len(rep.Thresholds), rep.Data.Info.Error)
	}
	for _, want := range []string{"warmup", "swap", "drain", "after"} {
		if _, ok := a.Phase(want); !ok {
			t.Errorf("no %s phase: the events did not reach the report (%d events)", want, len(data.Events))
		}
	}
	head := firstLine(t, mdPath)
	if want := fmt.Sprintf("# %s: 0 failed of %d requests", sc.Name, total); head != want {
		t.Errorf("report headline %q, want %q", head, want)
	}
	md, _ := os.ReadFile(mdPath)
	if !strings.Contains(string(md), fmt.Sprintf("| %s | ", sc.Name)) || !strings.Contains(string(md), "| "+fmt.Sprint(perColor["blue"])+" | "+fmt.Sprint(perColor["green"])+" |") {
		t.Errorf("report lacks the summary row or the per-color counts %v:\n%s", perColor, md)
	}
	lat, rps := rep.ChartNames()
	for _, c := range []string{lat, rps} {
		if fi, err := os.Stat(filepath.Join(outDir, c)); err != nil || fi.Size() < 1000 {
			t.Errorf("chart %s: %v", c, err)
		}
	}
}

func firstLine(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	return sc.Text()
}

// TestInterruptedRunStopsEverything cancels a run mid-deploy, as Ctrl-C
// does, and checks that the daemon, the model servers and nginx of the
// stack are gone and nothing listens on its ports (Stop checks the ports
// and fails otherwise).
func TestInterruptedRunStopsEverything(t *testing.T) {
	testenv.LookPath(t, "nginx", "nginx")
	stackDir := filepath.Join(t.TempDir(), "stack")
	cfg := loadgen.StackConfig{Zdml: testenv.Binary(t, "zdml"), Modelserver: testenv.Binary(t, "modelserver"),
		ModelsDir: testenv.ModelsDir(t), Dir: stackDir, Log: testLogger(t)}
	sc, err := loadgen.ParseScenario("e2e.yaml", []byte(strings.Replace(e2eScenario, "duration: 12s", "duration: 60s", 1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var events *loadgen.EventTail
	go func() {
		// Cancel once the deploy has begun: the interrupt lands mid-deploy.
		for range 200 {
			time.Sleep(100 * time.Millisecond)
			if events == nil {
				if _, err := os.Stat(filepath.Join(stackDir, "state", "events.jsonl")); err == nil {
					events = loadgen.NewEventTail(filepath.Join(stackDir, "state", "events.jsonl"))
				}
				continue
			}
			_ = events.Poll()
			if evs := events.Events(); len(evs) > 0 && evs[len(evs)-1].Version == "v2" {
				break
			}
		}
		cancel()
	}()
	_, err = loadgen.RunManaged(ctx, sc, cfg, filepath.Join(t.TempDir(), "run"), loadgen.RunInfo{})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("interrupted run: err %v, want it to say interrupted", err)
	}
	if procs := processesUnder(stackDir); len(procs) > 0 {
		t.Errorf("still running after an interrupted run: %s", strings.Join(procs, "; "))
	}
}

// processesUnder lists live processes whose command line mentions dir.
func processesUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		out = append(out, e.Name()+" "+strings.ReplaceAll(string(b), "\x00", " "))
	}
	return out
}

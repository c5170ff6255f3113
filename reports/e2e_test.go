package reports

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

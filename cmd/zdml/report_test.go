package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// soakRecord is a soak's record as another machine committed it: its raw
// results are not here.
const soakRecord = `{
  "version": 1,
  "scenario": "soak",
  "started": "2026-12-06T09:12:40Z",
  "model": "tiny v1 ⇄ v2, 3.5 MB",
  "duration": {"kind": "series", "seconds": 7.8, "deploys": 20},
  "requests": 14407,
  "failed": 0,
  "outcome": "14 succeeded, 6 rolled back",
  "thresholds": {"passed": 5, "total": 5},
  "load": {"rate": "8/s", "duration": "30m0s", "mix": "chat ×6, chat_user ×4, completions ×6, completions_stream ×3, completions_stream ×1 (512 tokens)", "max_tokens": 16, "timeout": "30s"},
  "command": "make soak",
  "runtime": "process",
  "environment": {"os": "linux", "arch": "amd64", "cpus": 2, "load_avg": "1.58 6.03 7.16", "go_version": "go1.26.8",
    "models": [{"name": "tiny.gguf", "bytes": 3460000}]}
}
`

// TestReportCommand regenerates a report and latest.md from a raw run
// alone (the committed synthetic run of the reports package), in a reports
// directory as a fresh clone has it: records of runs made elsewhere, whose
// raw results are not here, and an older run of the same scenario.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	reps := filepath.Join(dir, "reports")
	if err := os.MkdirAll(reps, 0o755); err != nil {
		t.Fatal(err)
	}
	older := strings.NewReplacer("soak", "deploy-under-load", "2026-12-06", "2026-11-20", "14407", "99").Replace(soakRecord)
	for name, rec := range map[string]string{"2026-12-06-soak.json": soakRecord, "2026-11-20-deploy-under-load.json": older} {
		if err := os.WriteFile(filepath.Join(reps, name), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runs := filepath.Join(dir, "runs")
	run := filepath.Join(runs, "2026-11-25-deploy-under-load")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"results.bin", "events.jsonl", "run.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "reports", "testdata", "synthetic-run", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(run, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()
	err := runReport(context.Background(), slog.New(slog.DiscardHandler), []string{"--reports-dir", reps, "--runs-dir", runs})
	if err != nil {
		t.Fatal(err)
	}
	if want := "deploy-under-load: 120 requests, 2 failed, outcome succeeded, thresholds 2/4"; !strings.Contains(out.String(), want) {
		t.Errorf("output %q, want it to contain %q", out.String(), want)
	}
	for _, f := range []string{"2026-11-25-deploy-under-load.md", "2026-11-25-deploy-under-load.json", "latest.md", "img/2026-11-25-deploy-under-load-latency.png", "img/2026-11-25-deploy-under-load-rps.png"} {
		if _, err := os.Stat(filepath.Join(reps, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	latest, err := os.ReadFile(filepath.Join(reps, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| [deploy-under-load](2026-11-25-deploy-under-load.md): standard deploy under load |",
		"| [soak](2026-12-06-soak.md): (not in the seed) | – | – | – | tiny v1 ⇄ v2, 3.5 MB | 20 deploys, 7.8 s in windows | 14407 | 0 (0.00%) | 14 succeeded, 6 rolled back | 5/5 passed |",
		"| soak | 8/s for 30m0s |",
		"Reproduce: `make loadtest-deploy` and `make soak`",
	} {
		if !strings.Contains(string(latest), want) {
			t.Errorf("latest.md lacks %q:\n%s", want, latest)
		}
	}
	if strings.Contains(string(latest), "2026-11-20") {
		t.Errorf("latest.md still has the older run of deploy-under-load:\n%s", latest)
	}

	bad := filepath.Join(reps, "2026-12-01-deploy-storm.json")
	if err := os.WriteFile(bad, []byte(`{"version": 1, "scenario": "deploy-storm",`), 0o644); err != nil {
		t.Fatal(err)
	}
	err = runReport(context.Background(), slog.New(slog.DiscardHandler), []string{"--reports-dir", reps, "--summary"})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a malformed record: err %v, want one naming %s", err, bad)
	}
	err = runReport(context.Background(), slog.New(slog.DiscardHandler), []string{"--runs-dir", filepath.Join(dir, "none")})
	if err == nil || !strings.Contains(err.Error(), "no runs in") {
		t.Errorf("no runs: err %v, want \"no runs in ...\"", err)
	}
}

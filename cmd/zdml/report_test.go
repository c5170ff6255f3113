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

// TestReportCommand regenerates a report and latest.md from a raw run
// alone (the committed synthetic run of the reports package).
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
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
	reps := filepath.Join(dir, "reports")
	err := runReport(context.Background(), slog.New(slog.DiscardHandler), []string{"--reports-dir", reps, "--runs-dir", runs})
	if err != nil {
		t.Fatal(err)
	}
	if want := "deploy-under-load: 120 requests, 2 failed, outcome succeeded, thresholds 2/4"; !strings.Contains(out.String(), want) {
		t.Errorf("output %q, want it to contain %q", out.String(), want)
	}
	for _, f := range []string{"2026-11-25-deploy-under-load.md", "latest.md", "img/2026-11-25-deploy-under-load-latency.png", "img/2026-11-25-deploy-under-load-rps.png"} {
		if _, err := os.Stat(filepath.Join(reps, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	err = runReport(context.Background(), slog.New(slog.DiscardHandler), []string{"--runs-dir", filepath.Join(dir, "none")})
	if err == nil || !strings.Contains(err.Error(), "no runs in") {
		t.Errorf("no runs: err %v, want \"no runs in ...\"", err)
	}
}

package monitoring

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDeployReportMarkdown renders a report of a blue→green deploy: a
// color that came up shows a dash before, one that went down a dash after.
// Golden file: testdata/deploy-report.golden.md (-update rewrites it).
func TestDeployReportMarkdown(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	r := &DeployReport{
		Prometheus: "http://127.0.0.1:9090",
		Before:     Status{SyncState: "synced", ActiveColor: "blue", ActiveVersion: "v1"},
		After: Status{SyncState: "synced", ActiveColor: "green", ActiveVersion: "v2", LastDeploy: &LastDeploy{
			ID: "d-42", Outcome: "succeeded", FromVersion: "v1", ToVersion: "v2",
			StartedAt: t0.Add(time.Second), FinishedAt: t0.Add(31500 * time.Millisecond)}},
		Started: t0, Ended: t0.Add(40 * time.Second),
		Pre: Snapshot{Readings: []Reading{
			{Metric: "target up", Series: "blue", Value: 1, Text: "1"},
			{Metric: "target up", Series: "green", Value: 0, Text: "0"},
			{Metric: "model version", Series: "blue", Text: "v1"},
			{Metric: "latency p95 (1m)", Series: "blue", Text: "1.2s"},
		}},
		Post: Snapshot{Readings: []Reading{
			{Metric: "target up", Series: "blue", Value: 0, Text: "0"},
			{Metric: "target up", Series: "green", Value: 1, Text: "1"},
			{Metric: "model version", Series: "green", Text: "v2"},
			{Metric: "latency p95 (1m)", Series: "green", Text: "1.1s"},
		}, Errors: []string{"last drain: query timed out"}},
		During: Snapshot{Readings: []Reading{
			{Metric: "requests served", Series: "blue", Text: "120"},
			{Metric: "requests served", Series: "green", Text: "80"},
			{Metric: "5xx responses", Series: "blue", Text: "0"},
			{Metric: "deploys finished", Series: "succeeded", Text: "1"},
		}},
	}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "deploy-report.golden.md")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("report differs from %s (-update to accept):\n%s", golden, got)
	}
	for _, w := range []string{"`d-42`: v1 → v2, **succeeded**", "| deploy duration | 30.5s", "| model version | blue | v1 | — |",
		"| model version | green | — | v2 |", "| 5xx responses | blue | 0 |", "- last drain: query timed out"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("report lacks %q", w)
		}
	}
}

func TestReportPath(t *testing.T) {
	at := time.Date(2026, 11, 25, 20, 1, 2, 0, time.FixedZone("CET", 3600))
	if got, want := ReportPath("reports", at), filepath.Join("reports", "2026-11-25-190102-deploy-monitored.md"); got != want {
		t.Errorf("ReportPath = %q, want %q", got, want)
	}
}

package monitoring

import (
	"strings"
	"testing"
	"time"
)

func TestWriteTargets(t *testing.T) {
	now := time.Date(2026, 11, 25, 20, 0, 10, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		targets []Target
		want    []string
	}{
		{"none yet", nil, []string{"no active targets yet"}},
		{"standby down is expected", []Target{
			{Job: "modelserver", Color: "blue", Role: "model", URL: "http://127.0.0.1:8000/metrics", Health: "up",
				LastScrape: now.Add(-2 * time.Second), ScrapeDuration: 3250 * time.Microsecond},
			{Job: "modelserver", Color: "green", Role: "model", URL: "http://127.0.0.1:8001/metrics", Health: "down",
				LastScrape: now.Add(-time.Second), LastError: "connection refused", Expected: true},
			{Job: "reconciler", Role: "reconciler", URL: "http://127.0.0.1:9400/metrics", Health: "unknown"},
		}, []string{"HEALTH", "up", "2s ago", "3.25ms", "down (standby, expected)", "connection refused", "never", "reconciler   -      reconciler"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteTargets(&b, tc.targets, now); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

package analysis

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

func f(v float64) *float64 { return &v }

// latencies makes a window of n requests, errs of them failed, whose
// latencies are spread evenly over (0, p100] seconds in 0.1 s buckets.
func latencies(n, errs int, p100, tps float64) Window {
	var bounds, cum []float64
	for b := 0.1; b <= 30; b += 0.1 {
		bounds = append(bounds, b)
		c := float64(n) * math.Min(b/p100, 1)
		cum = append(cum, c)
	}
	bounds, cum = append(bounds, math.Inf(1)), append(cum, float64(n))
	h := Histogram{Bounds: bounds, Cumulative: cum, Count: float64(n), Sum: float64(n) * p100 / 2}
	return Window{From: time.Unix(0, 0), To: time.Unix(15, 0), Requests: float64(n), Errors: float64(errs),
		Latency: h, TTFT: h, TPS: Histogram{Bounds: []float64{math.Inf(1)}, Cumulative: []float64{float64(n)}, Count: float64(n), Sum: tps * float64(n)}}
}

func TestJudge(t *testing.T) {
	a := spec.Analysis{Interval: spec.Duration{Duration: 15 * time.Second}, MinRequests: 20, FailureLimit: 2, Metrics: []spec.Metric{
		{ErrorRate: &spec.Threshold{Max: f(0.01)}},
		{LatencyP95: &spec.Threshold{MaxRatio: f(1.5)}},
		{TTFTP95: &spec.Threshold{MaxRatio: f(1.5)}},
		{TokensPerSecond: &spec.Threshold{MinRatio: f(0.7)}},
	}}
	stable := latencies(400, 0, 2, 50)
	tests := []struct {
		name    string
		canary  Window
		stable  Window
		want    Verdict
		because string
	}{
		{name: "same as stable", canary: latencies(40, 0, 2, 50), stable: stable, want: Pass},
		{name: "slightly slower", canary: latencies(40, 0, 2.8, 40), stable: stable, want: Pass},
		{name: "twice as slow", canary: latencies(40, 0, 4, 25), stable: stable, want: Fail, because: "latencyP95 ×2 (3.8s / 1.9s) > maxRatio 1.5"},
		{name: "errors", canary: latencies(40, 2, 2, 50), stable: stable, want: Fail, because: "errorRate 0.05 > max 0.01"},
		{name: "too few canary requests, all failed", canary: latencies(5, 5, 10, 1), stable: stable, want: Inconclusive,
			because: "5 canary requests in the window, want minRequests 20"},
		{name: "no traffic at all", canary: Window{}, stable: Window{}, want: Inconclusive, because: "0 canary requests"},
		{name: "stable without traffic for a ratio", canary: latencies(40, 0, 2, 50), stable: latencies(3, 0, 2, 50), want: Inconclusive,
			because: "3 stable requests in the window, want minRequests 20 for a ratio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Judge(context.Background(), a, 10, tt.canary, tt.stable, Colors{spec.Green, spec.Blue}, nil)
			if d.Verdict != tt.want || !strings.Contains(d.Reason, tt.because) {
				t.Errorf("verdict %s (%s), want %s because %q", d.Verdict, d.Reason, tt.want, tt.because)
				for _, r := range d.Results {
					t.Logf("  %s: %s %s", r.Metric, r.Verdict, r.Reason)
				}
			}
			if len(d.Results) != len(a.Metrics) {
				t.Errorf("%d results, want one per metric", len(d.Results))
			}
		})
	}
}

// TestJudgeHungPrometheus: a Prometheus that accepts the query and never
// answers makes its metric inconclusive within the query timeout; the
// decision is never held up (Flagger #1801).
func TestJudgeHungPrometheus(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	prom, err := NewPrometheus(hung.URL, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	a := spec.Analysis{MinRequests: 1, Metrics: []spec.Metric{{Prometheus: &spec.PromMetric{Query: `sum(up{color="{{canary}}"})`, Min: f(1)}}}}
	t0 := time.Now()
	d := Judge(context.Background(), a, 10, latencies(40, 0, 1, 50), latencies(40, 0, 1, 50), Colors{spec.Green, spec.Blue}, prom)
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("judging took %s with a hung Prometheus", took)
	}
	if d.Verdict != Inconclusive || !strings.Contains(d.Reason, "prometheus") {
		t.Errorf("verdict %s (%s), want inconclusive from prometheus", d.Verdict, d.Reason)
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{15 * time.Second: "15s", 2 * time.Minute: "2m", 90 * time.Minute: "1h30m", time.Hour: "1h"} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

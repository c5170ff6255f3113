package analysis

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Verdict is the outcome of one metric, or of one window.
type Verdict string

const (
	Pass         Verdict = "pass"
	Fail         Verdict = "fail"
	Inconclusive Verdict = "inconclusive"
)

// Result is one metric judged in one window.
type Result struct {
	Metric string `json:"metric"`
	Bound  string `json:"bound"`            // as written: "maxRatio 1.5"
	Value  Number `json:"value"`            // the canary's value (seconds, fraction, tokens/s)
	Stable Number `json:"stable,omitempty"` // the stable color's, for ratio bounds
	Ratio  Number `json:"ratio,omitempty"`  // Value / Stable, for ratio bounds
	Verdict
	Reason string `json:"reason"`
}

// Decision is one analysis window: its verdict and every metric's result.
type Decision struct {
	At     time.Time `json:"at"`
	Weight int       `json:"weight"` // the configured canary weight during the window
	// Share is the canary's observed share of user requests in the window
	// (NaN without any request), to set against Weight.
	Share          Number   `json:"share"`
	CanaryRequests float64  `json:"canary_requests"`
	StableRequests float64  `json:"stable_requests"`
	Verdict        Verdict  `json:"verdict"`
	Reason         string   `json:"reason"`
	Results        []Result `json:"results"`
}

// Querier answers a PromQL query with one number (NaN when it has none).
type Querier interface {
	Query(ctx context.Context, query string) (float64, error)
}

// Judge decides one window. prom may be nil when no Prometheus address is
// configured; a prometheus metric is then inconclusive (the reconciler's
// pre-flight refuses such a spec, so this is only a guard). Judging never
// blocks longer than ctx allows.
func Judge(ctx context.Context, a spec.Analysis, weight int, canary, stable Window, colors Colors, prom Querier) Decision {
	d := Decision{At: canary.To, Weight: weight, CanaryRequests: canary.Requests, StableRequests: stable.Requests,
		Share: Number(canary.Requests / (canary.Requests + stable.Requests))}
	enough := canary.Requests >= float64(a.MinRequests)
	for _, m := range a.Metrics {
		r := judgeMetric(ctx, a, m, canary, stable, colors, prom)
		if !enough && r.Verdict != Inconclusive {
			r.Verdict = Inconclusive
			r.Reason = fmt.Sprintf("%s (only %.0f canary requests, want minRequests %d)", r.Reason, canary.Requests, a.MinRequests)
		}
		d.Results = append(d.Results, r)
	}
	d.Verdict, d.Reason = verdictOf(d.Results)
	if !enough {
		d.Verdict = Inconclusive
		d.Reason = fmt.Sprintf("%.0f canary requests in the window, want minRequests %d", canary.Requests, a.MinRequests)
	}
	return d
}

// verdictOf is a window's verdict: fail when a metric failed, else
// inconclusive when one was, else pass.
func verdictOf(rs []Result) (Verdict, string) {
	var failed, unsure []string
	for _, r := range rs {
		switch r.Verdict {
		case Fail:
			failed = append(failed, r.Reason)
		case Inconclusive:
			unsure = append(unsure, r.Reason)
		}
	}
	switch {
	case len(failed) > 0:
		return Fail, strings.Join(failed, "; ")
	case len(unsure) > 0:
		return Inconclusive, strings.Join(unsure, "; ")
	}
	return Pass, "every metric within its bound"
}

// Colors names the canary and the stable color, for PromQL templates.
type Colors struct{ Canary, Stable spec.Color }

func judgeMetric(ctx context.Context, a spec.Analysis, m spec.Metric, canary, stable Window, colors Colors, prom Querier) Result {
	b := m.Bound()
	nan := Number(math.NaN())
	r := Result{Metric: m.Name(), Bound: b.String(), Value: nan, Stable: nan, Ratio: nan}
	switch {
	case m.ErrorRate != nil:
		r.Value, r.Stable = Number(canary.Errors/canary.Requests), Number(stable.Errors/stable.Requests)
	case m.LatencyP95 != nil:
		r.Value, r.Stable = Number(canary.Latency.Quantile(0.95)), Number(stable.Latency.Quantile(0.95))
	case m.TTFTP95 != nil:
		r.Value, r.Stable = Number(canary.TTFT.Quantile(0.95)), Number(stable.TTFT.Quantile(0.95))
	case m.TokensPerSecond != nil:
		r.Value, r.Stable = Number(canary.TPS.Mean()), Number(stable.TPS.Mean())
	case m.Prometheus != nil:
		return promResult(ctx, r, *m.Prometheus, a.Interval.Duration, colors, prom)
	}
	ratioBound := b.MaxRatio != nil || b.MinRatio != nil
	if ratioBound {
		r.Ratio = r.Value / r.Stable
		if stable.Requests < float64(a.MinRequests) {
			r.Verdict, r.Reason = Inconclusive, fmt.Sprintf("%s: %.0f stable requests in the window, want minRequests %d for a ratio", r.Metric, stable.Requests, a.MinRequests)
			return r
		}
	}
	return bounded(r, b)
}

// bounded compares r's value (and ratio) with b.
func bounded(r Result, b spec.Threshold) Result {
	checks := []struct {
		name   string
		bound  *float64
		v      float64
		upper  bool
		format string
	}{
		{"max", b.Max, float64(r.Value), true, "%s %s > max %g"},
		{"min", b.Min, float64(r.Value), false, "%s %s < min %g"},
		{"maxRatio", b.MaxRatio, float64(r.Ratio), true, "%s ×%s > maxRatio %g"},
		{"minRatio", b.MinRatio, float64(r.Ratio), false, "%s ×%s < minRatio %g"},
	}
	r.Verdict = Pass
	var why []string
	for _, c := range checks {
		if c.bound == nil {
			continue
		}
		shown := r.describe(c.v, strings.HasSuffix(c.name, "Ratio"))
		switch {
		case math.IsNaN(c.v) || math.IsInf(c.v, 0):
			r.Verdict, r.Reason = Inconclusive, fmt.Sprintf("%s: no value in the window (%s)", r.Metric, shown)
			return r
		case (c.upper && c.v > *c.bound) || (!c.upper && c.v < *c.bound):
			r.Verdict = Fail
			why = append(why, fmt.Sprintf(c.format, r.Metric, shown, *c.bound))
		default:
			why = append(why, fmt.Sprintf("%s %s within %s %g", r.Metric, shown, c.name, *c.bound))
		}
	}
	r.Reason = strings.Join(why, "; ")
	return r
}

// describe formats a value for a reason: "2.31s / 1.02s = 2.26" for a ratio.
func (r Result) describe(v float64, ratio bool) string {
	unit := func(x float64) string {
		switch r.Metric {
		case spec.MetricLatencyP95, spec.MetricTTFTP95:
			return fmt.Sprintf("%.3gs", x)
		case spec.MetricErrorRate:
			return fmt.Sprintf("%.3g", x)
		}
		return fmt.Sprintf("%.4g", x)
	}
	if ratio {
		return fmt.Sprintf("%.3g (%s / %s)", v, unit(float64(r.Value)), unit(float64(r.Stable)))
	}
	return unit(v)
}

// promResult runs a PromQL metric.
func promResult(ctx context.Context, r Result, p spec.PromMetric, interval time.Duration, colors Colors, prom Querier) Result {
	if prom == nil {
		r.Verdict, r.Reason = Inconclusive, "prometheus: no Prometheus address is configured"
		return r
	}
	q := strings.NewReplacer("{{canary}}", string(colors.Canary), "{{stable}}", string(colors.Stable),
		"{{interval}}", promDuration(interval)).Replace(p.Query)
	v, err := prom.Query(ctx, q)
	if err != nil {
		r.Verdict, r.Reason = Inconclusive, "prometheus: "+err.Error()
		return r
	}
	r.Value = Number(v)
	return bounded(r, spec.Threshold{Max: p.Max, Min: p.Min})
}

// promDuration writes a duration as PromQL does: 15s, 2m, 1h30m.
func promDuration(d time.Duration) string {
	d = d.Round(time.Second)
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

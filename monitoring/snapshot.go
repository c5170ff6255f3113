package monitoring

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Units of a Metric's value, for formatting.
const (
	UnitNone    = ""
	UnitSeconds = "s"
	UnitBytes   = "bytes"
	UnitRatio   = "ratio" // shown as a percentage
	UnitPerSec  = "/s"
	UnitCount   = "count"
)

// Metric is one PromQL query of a snapshot. By names the labels that tell
// its series apart (color, outcome); Label, when set, is shown instead of
// the value (an info metric's version). Window queries contain $window,
// replaced by the deploy's duration, and $range, the window plus a lead
// of a few scrapes (see TakeSnapshot).
type Metric struct {
	Name, Expr, Unit string
	By               []string
	Label            string
}

// userRoutes are the routes clients call (recording.yml says why).
const userRoutes = `route!~"/metrics|/healthz|/ready|/health/deep"`

// PointMetrics are read at one instant, before and after a deploy.
var PointMetrics = []Metric{
	{Name: "target up", Expr: `max by (color) (up{role="model"})`, By: []string{"color"}},
	{Name: "ready", Expr: `max by (color) (zdml_model_ready)`, By: []string{"color"}},
	{Name: "model version", Expr: `max by (color, version) (zdml_model_info)`, By: []string{"color"}, Label: "version"},
	{Name: "request rate (1m)", Expr: `color:zdml_http_requests:rate1m`, Unit: UnitPerSec, By: []string{"color"}},
	{Name: "5xx ratio (1m)", Expr: `color:zdml_http_error_ratio:rate1m`, Unit: UnitRatio, By: []string{"color"}},
	{Name: "latency p50 (1m)", Expr: `color:zdml_http_request_duration_seconds:quantile1m{quantile="0.5"}`, Unit: UnitSeconds, By: []string{"color"}},
	{Name: "latency p95 (1m)", Expr: `color:zdml_http_request_duration_seconds:quantile1m{quantile="0.95"}`, Unit: UnitSeconds, By: []string{"color"}},
	{Name: "time to first token p95 (1m)", Expr: `color:zdml_time_to_first_token_seconds:quantile1m{quantile="0.95"}`, Unit: UnitSeconds, By: []string{"color"}},
	{Name: "tokens generated (1m)", Expr: `color:zdml_generated_tokens:rate1m`, Unit: UnitPerSec, By: []string{"color"}},
	{Name: "in flight", Expr: `sum by (color) (zdml_in_flight_requests)`, Unit: UnitCount, By: []string{"color"}},
	{Name: "PSS memory", Expr: `max by (color) (zdml_memory_pss_bytes)`, Unit: UnitBytes, By: []string{"color"}},
	{Name: "RSS memory", Expr: `max by (color) (process_resident_memory_bytes{role="model"})`, Unit: UnitBytes, By: []string{"color"}},
	{Name: "sync state", Expr: `max by (state) (zdml_reconciler_sync_state) == 1`, Label: "state"},
	{Name: "active color", Expr: `max by (color) (zdml_reconciler_active_color) == 1`, Label: "color"},
	{Name: "deployed version", Expr: `max by (deployed_version) (zdml_reconciler_version_info)`, Label: "deployed_version"},
	{Name: "desired version", Expr: `max by (desired_version) (zdml_reconciler_version_info)`, Label: "desired_version"},
	{Name: "deploys (total)", Expr: `sum by (outcome) (zdml_reconciler_deploys_total)`, Unit: UnitCount, By: []string{"outcome"}},
	{Name: "last drain", Expr: `max(zdml_reconciler_last_drain_seconds)`, Unit: UnitSeconds},
	{Name: "in flight at last swap", Expr: `max(zdml_reconciler_last_drain_inflight)`, Unit: UnitCount},
}

// WindowMetrics are read once after the deploy, over the whole deploy.
// Counts are exact differences of the counters between the two snapshots
// (see counterDelta), so the old color, gone by the end, still counts.
var WindowMetrics = []Metric{
	{Name: "requests served", Expr: counterDelta(`zdml_http_requests_total{`+userRoutes+`}`, "color"), Unit: UnitCount, By: []string{"color"}},
	{Name: "5xx responses", Expr: counterDelta(`zdml_http_requests_total{`+userRoutes+`,code=~"5.."}`, "color") +
		` or on (color) ` + counterDelta(`zdml_http_requests_total{`+userRoutes+`}`, "color") + ` * 0`, Unit: UnitCount, By: []string{"color"}},
	{Name: "queue rejections (503)", Expr: counterDelta(`zdml_queue_rejected_total`, "color"), Unit: UnitCount, By: []string{"color"}},
	{Name: "latency p95", Expr: `histogram_quantile(0.95, ` + counterDelta(`zdml_http_request_duration_seconds_bucket{route=~"/chat.*|/v1/chat/completions"}`, "color, le") + `)`, Unit: UnitSeconds, By: []string{"color"}},
	{Name: "max in flight", Expr: `max by (color) (max_over_time(zdml_in_flight_requests[$range]))`, Unit: UnitCount, By: []string{"color"}},
	{Name: "peak PSS, both colors", Expr: `max_over_time(sum(zdml_memory_pss_bytes)[$range:])`, Unit: UnitBytes},
	{Name: "deploys finished", Expr: counterDelta(`zdml_reconciler_deploys_total`, "outcome"), Unit: UnitCount, By: []string{"outcome"}},
}

// counterDelta is how much the counters selected by sel grew between the
// start and the end of the window, summed by labels: the last sample up to
// the end minus the one at the start, or minus 0 for a series that did not
// exist then (the new color). Unlike increase() it needs no two samples in
// the window and does not extrapolate: an old color stopped a second into
// the deploy still shows what it served up to its last scrape. $range
// reaches back before the window so that last sample is found even when
// the color was not scraped again after the start.
func counterDelta(sel, by string) string {
	last := `sum by (` + by + `) (last_over_time(` + sel + `[$range]))`
	return `(` + last + ` - (sum by (` + by + `) (` + sel + ` offset $window) or ` + last + ` * 0))`
}

// Reading is one series of a Metric at a snapshot.
type Reading struct {
	Metric string
	Series string // the By labels' values, "blue" or "rolled_back"; "" for one series
	Value  float64
	Text   string // formatted value, or the Label's value
}

// Snapshot is the readings of a set of metrics at one time.
type Snapshot struct {
	At       time.Time
	Readings []Reading
	Errors   []string // queries that failed; a snapshot is still useful without them
}

// TakeSnapshot evaluates metrics at time at. A metric with no series (a
// color that is down) simply has no reading. window replaces $window, and
// window+lead $range: lead should cover a scrape interval or two.
func TakeSnapshot(ctx context.Context, c *Client, metrics []Metric, at time.Time, window, lead time.Duration) Snapshot {
	s := Snapshot{At: at}
	w := promDuration(max(window.Round(time.Second), time.Second))
	r := promDuration(max((window + lead).Round(time.Second), time.Second))
	for _, m := range metrics {
		v, err := c.Query(ctx, strings.NewReplacer("$window", w, "$range", r).Replace(m.Expr), at)
		if err != nil {
			s.Errors = append(s.Errors, fmt.Sprintf("%s: %v", m.Name, err))
			continue
		}
		s.Readings = append(s.Readings, readings(m, v)...)
	}
	return s
}

func readings(m Metric, v model.Vector) []Reading {
	var out []Reading
	for _, smp := range v {
		var key []string
		for _, l := range m.By {
			key = append(key, string(smp.Metric[model.LabelName(l)]))
		}
		r := Reading{Metric: m.Name, Series: strings.Join(key, ","), Value: float64(smp.Value)}
		r.Text = FormatValue(r.Value, m.Unit)
		if m.Label != "" {
			r.Text = string(smp.Metric[model.LabelName(m.Label)])
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Series < out[j].Series })
	return out
}

// Get returns the reading of metric for series.
func (s Snapshot) Get(metric, series string) (Reading, bool) {
	for _, r := range s.Readings {
		if r.Metric == metric && r.Series == series {
			return r, true
		}
	}
	return Reading{}, false
}

// FormatValue writes v in unit for a human.
func FormatValue(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 0):
		return fmt.Sprint(v)
	}
	switch unit {
	case UnitSeconds:
		return time.Duration(v * float64(time.Second)).Round(time.Millisecond).String()
	case UnitBytes:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case UnitRatio:
		return fmt.Sprintf("%.2f %%", v*100)
	case UnitPerSec:
		return fmt.Sprintf("%.2f/s", v)
	case UnitCount:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%g", v)
	}
}

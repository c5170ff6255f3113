package analysis

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// UserRoutes are the model server's route labels that carry user traffic;
// health, metrics and scoring requests are not judged.
var UserRoutes = map[string]bool{"/chat": true, "/chat/{user_id}": true, "/v1/chat/completions": true}

// Metric names read from a model server (docs/architecture.md).
const (
	requestsMetric  = "zdml_http_requests_total"
	durationMetric  = "zdml_http_request_duration_seconds"
	ttftMetric      = "zdml_time_to_first_token_seconds"
	tpsMetric       = "zdml_tokens_per_second"
	failuresMetric  = "zdml_generation_failures_total"
	startTimeMetric = "process_start_time_seconds"
)

// Sample is one scrape of a color's cumulative counters and histograms.
type Sample struct {
	At        time.Time
	StartTime float64 // process_start_time_seconds: a restart resets every counter
	Requests  float64 // user-route requests answered
	Errors    float64 // of which 5xx, plus streams that failed after their 200
	Latency   Histogram
	TTFT      Histogram
	TPS       Histogram
}

// maxMetricsBytes bounds a /metrics body.
const maxMetricsBytes = 4 << 20

// Scrape fetches addr's /metrics within ctx.
func Scrape(ctx context.Context, client *http.Client, addr string) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return Sample{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("scrape %s: %s", addr, resp.Status)
	}
	s, err := Parse(io.LimitReader(resp.Body, maxMetricsBytes))
	if err != nil {
		return Sample{}, fmt.Errorf("scrape %s: %w", addr, err)
	}
	s.At = time.Now()
	return s, nil
}

// Parse reads a Prometheus text exposition.
func Parse(r io.Reader) (Sample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Sample{}, err
	}
	var s Sample
	if f := fams[startTimeMetric]; f != nil && len(f.Metric) > 0 {
		s.StartTime = f.Metric[0].GetGauge().GetValue()
	}
	for _, m := range fams[requestsMetric].GetMetric() {
		if !UserRoutes[label(m, "route")] {
			continue
		}
		v := m.GetCounter().GetValue()
		s.Requests += v
		if code := label(m, "code"); len(code) == 3 && code[0] == '5' {
			s.Errors += v
		}
	}
	for _, m := range fams[failuresMetric].GetMetric() {
		s.Errors += m.GetCounter().GetValue()
	}
	for _, m := range fams[durationMetric].GetMetric() {
		if UserRoutes[label(m, "route")] {
			s.Latency = s.Latency.add(histogramOf(m))
		}
	}
	for _, m := range fams[ttftMetric].GetMetric() {
		s.TTFT = s.TTFT.add(histogramOf(m))
	}
	for _, m := range fams[tpsMetric].GetMetric() {
		s.TPS = s.TPS.add(histogramOf(m))
	}
	if fams[requestsMetric] == nil {
		return s, fmt.Errorf("no %s: not a zdml model server", requestsMetric)
	}
	return s, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func histogramOf(m *dto.Metric) Histogram {
	h := m.GetHistogram()
	out := Histogram{Count: float64(h.GetSampleCount()), Sum: h.GetSampleSum()}
	for _, b := range h.GetBucket() {
		out.Bounds = append(out.Bounds, b.GetUpperBound())
		out.Cumulative = append(out.Cumulative, float64(b.GetCumulativeCount()))
	}
	return out
}

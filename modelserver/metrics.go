package modelserver

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// LLM latencies run from milliseconds (health, a cached prompt's first token)
// to minutes (a long reply queued behind others), so buckets span 5 ms-120 s.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120}

// metrics are the model server's Prometheus metrics; the names are a contract
// (docs/architecture.md). Route labels are route patterns, never raw paths.
type metrics struct {
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	inference      prometheus.Histogram
	ttft           prometheus.Histogram
	tokensPerSec   prometheus.Histogram
	generated      prometheus.Counter
	promptTokens   prometheus.Counter
	inFlight       prometheus.Gauge
	queueDepth     prometheus.Gauge
	rejected       prometheus.Counter
	scoredTokens   prometheus.Counter
	scoreSeconds   prometheus.Histogram
	info           *prometheus.GaugeVec
}

// newMetrics registers the metrics on reg. ready and pss are read at scrape
// time, so they are current even when nobody polls /ready.
func newMetrics(reg prometheus.Registerer, ready, pss func() float64) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zdml_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "zdml_http_request_duration_seconds", Help: "HTTP request latency by route pattern.", Buckets: latencyBuckets,
		}, []string{"route"}),
		inference: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zdml_inference_duration_seconds", Help: "Time in the engine per generation, prompt and reply.", Buckets: latencyBuckets,
		}),
		ttft: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zdml_time_to_first_token_seconds", Help: "From request arrival (queueing included) to the first generated token.", Buckets: latencyBuckets,
		}),
		tokensPerSec: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zdml_tokens_per_second", Help: "Generation speed per request, after the first token.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000},
		}),
		generated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zdml_generated_tokens_total", Help: "Tokens generated.",
		}),
		promptTokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zdml_prompt_tokens_total", Help: "Prompt tokens submitted, cached ones included.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zdml_in_flight_requests", Help: "Generation requests being served or queued.",
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zdml_queue_depth", Help: "Generation requests waiting for a slot.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zdml_queue_rejected_total", Help: "Generation requests refused with 503 because the queue was full.",
		}),
		scoredTokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zdml_scored_tokens_total", Help: "Tokens of texts scored by /v1/logprobs (each a decoded position).",
		}),
		scoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "zdml_score_duration_seconds", Help: "Time in the engine per /v1/logprobs scoring.", Buckets: latencyBuckets,
		}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zdml_model_info", Help: "Always 1; labels say which model this color serves.",
		}, []string{"color", "model", "version", "quantization"}),
	}
	reg.MustRegister(m.requests, m.requestSeconds, m.inference, m.ttft, m.tokensPerSec, m.generated,
		m.promptTokens, m.inFlight, m.queueDepth, m.rejected, m.scoredTokens, m.scoreSeconds, m.info,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zdml_model_ready", Help: "1 when the server is ready (the last readiness result; scraping never runs an inference).",
		}, ready),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zdml_memory_pss_bytes", Help: "Proportional set size: shared model pages count once across colors.",
		}, pss),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector())
	return m
}

func (m *metrics) observeRequest(route string, code int, seconds float64) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.requestSeconds.WithLabelValues(route).Observe(seconds)
}

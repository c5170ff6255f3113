package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// benchRate and benchFor are the attack both sides run: far above any
// LLM rate, so the harness's own costs show.
const (
	benchRate = 1000
	benchFor  = 3 * time.Second
)

// BenchmarkHarnessVsVegeta runs the harness (side records, stream
// observer, gob encoding to disk, progress) and a plain vegeta attack at
// the same rate on the same static endpoint, one after the other in one
// run, and reports the ratios: achieved rate (1 = the harness keeps up),
// p50 latency (the harness's per-request overhead) and CPU per request.
func BenchmarkHarnessVsVegeta(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderColor, "blue")
		w.Header().Set(HeaderVersion, "v1")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"response":"hello","color":"blue"}`)
	}))
	defer srv.Close()
	for b.Loop() {
		plain := benchPlainVegeta(b, srv.URL)
		harness := benchHarness(b, srv.URL)
		b.ReportMetric(plain.rate, "vegeta_req/s")
		b.ReportMetric(harness.rate, "harness_req/s")
		b.ReportMetric(harness.rate/plain.rate, "rate_ratio")
		b.ReportMetric(float64(plain.p50.Microseconds()), "vegeta_p50_µs")
		b.ReportMetric(float64(harness.p50.Microseconds()), "harness_p50_µs")
		b.ReportMetric(float64(harness.p50)/float64(plain.p50), "p50_ratio")
		b.ReportMetric(harness.cpu/plain.cpu, "cpu_per_req_ratio")
		if harness.failed+plain.failed > 0 {
			b.Fatalf("failed requests: harness %d, vegeta %d", harness.failed, plain.failed)
		}
	}
}

type benchResult struct {
	rate   float64 // requests per second achieved
	p50    time.Duration
	cpu    float64 // process CPU seconds per request (client and server)
	failed int
}

func benchPlainVegeta(b *testing.B, url string) benchResult {
	var tgt vegeta.Target
	tg := newTargeter(url, Load{Mix: []Mix{{Kind: KindChat, Weight: 1}}, MaxTokens: 16})
	if err := tg.build(&tgt, KindChat, 16, 0, 0); err != nil {
		b.Fatal(err)
	}
	atk := vegeta.NewAttacker()
	var m vegeta.Metrics
	cpu0 := cpuSeconds()
	for res := range atk.Attack(vegeta.NewStaticTargeter(tgt), vegeta.ConstantPacer{Freq: benchRate, Per: time.Second}, benchFor, "plain") {
		m.Add(res)
	}
	m.Close()
	cpu := cpuSeconds() - cpu0
	return benchResult{rate: m.Rate, p50: m.Latencies.P50, cpu: cpu / float64(m.Requests), failed: int(m.Requests) - int(m.Success*float64(m.Requests)+0.5)}
}

func benchHarness(b *testing.B, url string) benchResult {
	sc := &Scenario{Name: "bench", Load: Load{Rate: Rate{Freq: benchRate, Per: time.Second}, MaxTokens: 16, Users: 1,
		Mix: []Mix{{Kind: KindChat, Weight: 1}}}}
	sc.Load.Duration.Duration, sc.Load.Timeout.Duration = benchFor, 30*time.Second
	cpu0 := cpuSeconds()
	data, err := NewRunner(sc, url, b.TempDir()).Run(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	cpu := cpuSeconds() - cpu0
	s := NewStats("all", data.Records, time.Time{}, time.Now().Add(time.Hour))
	// vegeta's Metrics.Rate: requests over the span of their start times.
	first, lastStart := data.Records[0].Start, data.Records[0].Start
	for _, r := range data.Records {
		if r.Start.Before(first) {
			first = r.Start
		}
		if r.Start.After(lastStart) {
			lastStart = r.Start
		}
	}
	rate := float64(len(data.Records)) / lastStart.Sub(first).Seconds()
	return benchResult{rate: rate, p50: s.Latency.P50, cpu: cpu / float64(len(data.Records)), failed: s.Failed}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

package nginx

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// BenchmarkSplitLatency measures what the canary split costs a request:
// the same OpenAI POST (its "user" field last) goes alternately through an
// nginx with the plain config and one with a 50 % split, which reads the
// body before proxying (mirror). With id=header the request also carries
// X-User-Id, so the split never looks at the body: that isolates the cost
// of the body read from the cost of the body's "user" lookup. One op is one
// request to each nginx. It reports p50 and p99 of both and their ratios.
// Run: make bench-nginx-split
func BenchmarkSplitLatency(b *testing.B) {
	for _, tc := range []struct {
		size   int
		header bool
	}{{1 << 10, false}, {256 << 10, false}, {900 << 10, false}, {900 << 10, true}} {
		id := map[bool]string{false: "body", true: "header"}[tc.header]
		b.Run(fmt.Sprintf("body=%dKiB/id=%s", tc.size>>10, id), func(b *testing.B) {
			size := tc.size
			blue, green := countedBackend(b, spec.Blue, nil), countedBackend(b, spec.Green, nil)
			plain := benchProxy(b, blue, green, nil)
			split := benchProxy(b, blue, green, &Canary{Color: spec.Green, Weight: 50})
			body, _ := json.Marshal(map[string]any{
				"messages": []map[string]string{{"role": "user", "content": strings.Repeat("x", size)}}, "zz_user": nil})
			body = []byte(strings.Replace(string(body), `"zz_user":null`, `"user":"bench"`, 1))
			c := call{method: http.MethodPost, path: "/v1/chat/completions", body: body}
			if tc.header {
				c = c.with(HeaderUserID, "bench")
			}
			client := &http.Client{Timeout: 10 * time.Second}
			var tPlain, tSplit []time.Duration
			b.ResetTimer()
			for range b.N {
				tPlain = append(tPlain, timed(b, client, plain, c))
				tSplit = append(tSplit, timed(b, client, split, c))
			}
			b.StopTimer()
			p50p, p99p := percentiles(tPlain)
			p50s, p99s := percentiles(tSplit)
			b.ReportMetric(float64(p50p.Microseconds()), "plain-p50-µs")
			b.ReportMetric(float64(p99p.Microseconds()), "plain-p99-µs")
			b.ReportMetric(float64(p50s.Microseconds()), "split-p50-µs")
			b.ReportMetric(float64(p99s.Microseconds()), "split-p99-µs")
			b.ReportMetric(float64(p50s)/float64(p50p), "p50-ratio")
			b.ReportMetric(float64(p99s)/float64(p99p), "p99-ratio")
		})
	}
}

// benchProxy starts an nginx on the two backends, split by canary if set.
func benchProxy(b *testing.B, blue, green *counted, canary *Canary) string {
	p, _, cfg := newTestProxy(b, blue.srv, green.srv)
	cfg.Canary = canary
	if _, err := p.Ensure(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	return cfg.PublicAddr
}

func timed(b *testing.B, client *http.Client, addr string, c call) time.Duration {
	start := time.Now()
	if code, _, err := c.do(client, addr); err != nil || code != http.StatusOK {
		b.Fatalf("%d, %v", code, err)
	}
	return time.Since(start)
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}

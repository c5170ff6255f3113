package loadgen

import (
	"math"
	"sort"
	"time"
)

// Stats summarises the requests that started within one window of a run.
type Stats struct {
	Name     string
	From, To time.Time
	Requests int
	Failed   int
	// Latency and TTFT are over every request (failed ones included: a
	// timeout is latency a user saw); TTFT only over streams with a token.
	Latency Quantiles
	TTFT    Quantiles
	// Errors counts failed requests by ErrorType.
	Errors map[string]int
	// ByColor counts requests by the color that answered ("" = none).
	ByColor map[string]int
	// ByVersion counts requests by the version that answered.
	ByVersion map[string]int
	// Reused counts requests sent on a kept-alive connection, of
	// ReuseKnown that recorded whether they were.
	Reused, ReuseKnown int
}

// Seconds is the window's length.
func (s Stats) Seconds() float64 { return s.To.Sub(s.From).Seconds() }

// Throughput is successful requests per second over the window.
func (s Stats) Throughput() float64 {
	if sec := s.Seconds(); sec > 0 {
		return float64(s.Requests-s.Failed) / sec
	}
	return 0
}

// FailedRate is the fraction of requests that failed (0 with no requests).
func (s Stats) FailedRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Failed) / float64(s.Requests)
}

// Quantiles are exact order statistics (nearest rank) of a sample.
type Quantiles struct {
	N                            int
	Min, Avg, P50, P90, P95, P99 time.Duration
	Max                          time.Duration
}

// Get returns one aggregate by name (p50, p90, p95, p99, min, max, avg).
func (q Quantiles) Get(agg string) time.Duration {
	switch agg {
	case "min":
		return q.Min
	case "avg":
		return q.Avg
	case "p50":
		return q.P50
	case "p90":
		return q.P90
	case "p95":
		return q.P95
	case "p99":
		return q.P99
	}
	return q.Max
}

// NewQuantiles computes the quantiles of ds (which it sorts).
func NewQuantiles(ds []time.Duration) Quantiles {
	q := Quantiles{N: len(ds)}
	if len(ds) == 0 {
		return q
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	q.Min, q.Max, q.Avg = ds[0], ds[len(ds)-1], sum/time.Duration(len(ds))
	q.P50, q.P90, q.P95, q.P99 = rank(0.50), rank(0.90), rank(0.95), rank(0.99)
	return q
}

// NewStats summarises the records that started in [from, to).
func NewStats(name string, recs []Record, from, to time.Time) Stats {
	return NewStatsWhere(name, recs, from, to, nil)
}

// NewStatsWhere summarises the records that started in [from, to) and
// that keep accepts (every one when keep is nil).
func NewStatsWhere(name string, recs []Record, from, to time.Time, keep func(Record) bool) Stats {
	s := Stats{Name: name, From: from, To: to, Errors: map[string]int{}, ByColor: map[string]int{}, ByVersion: map[string]int{}}
	var lat, ttft []time.Duration
	for _, r := range recs {
		if r.Start.Before(from) || !r.Start.Before(to) || keep != nil && !keep(r) {
			continue
		}
		s.Requests++
		lat = append(lat, r.Latency)
		if r.TTFT > 0 {
			ttft = append(ttft, r.TTFT)
		}
		if r.Failed() {
			s.Failed++
			s.Errors[ErrorType(r)]++
		}
		s.ByColor[r.Color]++
		if r.Reused {
			s.Reused++
		}
		if r.ReuseKnown {
			s.ReuseKnown++
		}
		s.ByVersion[r.Version]++
	}
	s.Latency, s.TTFT = NewQuantiles(lat), NewQuantiles(ttft)
	return s
}

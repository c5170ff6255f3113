package testenv

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Window is a span of time a benchmark compares latencies in.
type Window struct{ Start, End time.Time }

// ChatLoop is one client of a benchmark: short /chat requests (8 tokens),
// 100 ms apart, each one's start and end recorded, until stop closes.
type ChatLoop struct {
	mu   sync.Mutex
	reqs []Window
}

// Run sends requests to base (http://host:port) until stop closes.
func (l *ChatLoop) Run(base string, stop <-chan struct{}) {
	client := &http.Client{Timeout: 5 * time.Minute}
	for {
		select {
		case <-stop:
			return
		default:
		}
		t0 := time.Now()
		resp, err := client.Post(base+"/chat", "application/json", strings.NewReader(`{"message":"hello there","max_tokens":8}`))
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		l.mu.Lock()
		l.reqs = append(l.reqs, Window{t0, time.Now()})
		l.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}

// StartedIn returns the durations of the requests that started in a window.
func (l *ChatLoop) StartedIn(ws []Window) []time.Duration {
	return l.matching(ws, func(r, w Window) bool { return !r.Start.Before(w.Start) && r.Start.Before(w.End) })
}

// Overlapping returns the durations of the requests that overlapped a window.
func (l *ChatLoop) Overlapping(ws []Window) []time.Duration {
	return l.matching(ws, func(r, w Window) bool { return r.Start.Before(w.End) && r.End.After(w.Start) })
}

func (l *ChatLoop) matching(ws []Window, in func(r, w Window) bool) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for _, r := range l.reqs {
		if slices.ContainsFunc(ws, func(w Window) bool { return in(r, w) }) {
			out = append(out, r.End.Sub(r.Start))
		}
	}
	return out
}

// Percentile is the p-th percentile of ds by nearest rank (0 for none).
func Percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[max(0, min(len(s)-1, (len(s)*p+99)/100-1))]
}

package reconciler

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/spec"
)

// BenchmarkContention measures what CPU-contention-aware loading buys:
// while clients keep the active color busy (two clients, each pausing
// 250 ms between requests), a standby loads and warms the demo model,
// either as deploys do (loaded at nice 19, thread and autogroup, then
// raised to normal priority for the warm-up gate) or at normal priority
// throughout, in alternating cycles within one run. It reports the active color's
// p50/p99 latency during those windows, and during idle windows with no
// standby, and the ratio of p99 at normal priority to p99 at nice 19.
//
//	make bench-contention
func BenchmarkContention(b *testing.B) {
	model := testenv.Model(b, "demo-v1.gguf")
	drv, err := NewProcess(DriverConfig{StateDir: b.TempDir(), Modelserver: testenv.Binary(b, "modelserver")})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	inst := func(c spec.Color, p Priority) Instance {
		return Instance{Color: c, Addr: freePort(b), ModelName: "demo", ModelVersion: "v1", ModelPath: model,
			Threads: 2, Parallel: 2, Ctx: 1024, Priority: p, ConfigHash: "bench", ShutdownTimeout: 10 * time.Second}
	}
	active := inst(spec.Blue, PriorityNormal)
	if _, err := drv.Start(ctx, active); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = drv.Stop(ctx, spec.Blue, 10*time.Second)
		_ = drv.Stop(ctx, spec.Green, 10*time.Second)
	})
	c := newModelClient()
	waitReady(b, c, active.Addr)
	rec := &latencies{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); rec.load(active.Addr, stop) }()
	}
	time.Sleep(2 * time.Second) // warm the active color's caches
	windows := map[string][]window{}
	for i := 0; i < b.N; i++ {
		for cycle := 0; cycle < 3; cycle++ {
			for _, mode := range []string{"idle", "nice19", "nice0"} {
				windows[mode] = append(windows[mode], cycleStandby(b, drv, c, inst, mode))
				time.Sleep(time.Second)
			}
		}
	}
	close(stop)
	wg.Wait()
	p99 := map[string]time.Duration{}
	for _, mode := range []string{"idle", "nice19", "nice0"} {
		ls := rec.during(windows[mode])
		p50, p99m := pct(ls, 50), pct(ls, 99)
		p99[mode] = p99m
		var span time.Duration
		for _, w := range windows[mode] {
			span += w.end.Sub(w.start)
		}
		b.Logf("%-7s %3d requests in %s of windows: p50 %s p99 %s", mode, len(ls), span.Round(time.Millisecond),
			p50.Round(time.Millisecond), p99m.Round(time.Millisecond))
		b.ReportMetric(float64(p99m.Milliseconds()), "p99-ms-"+mode)
	}
	if p99["nice19"] > 0 {
		b.ReportMetric(float64(p99["nice0"])/float64(p99["nice19"]), "p99-nice0/nice19")
	}
}

type window struct{ start, end time.Time }

// cycleStandby starts green at the mode's priority, waits until ready,
// raises it to normal, warms it with two 16-token prompts and stops it; "idle" only waits
// as long, with no standby, for the baseline.
func cycleStandby(b *testing.B, drv *Process, c *modelClient, inst func(spec.Color, Priority) Instance, mode string) window {
	ctx := context.Background()
	w := window{start: time.Now()}
	if mode == "idle" {
		time.Sleep(3 * time.Second)
		w.end = time.Now()
		return w
	}
	p := PriorityLow
	if mode == "nice0" {
		p = PriorityNormal
	}
	standby := inst(spec.Green, p)
	if _, err := drv.Start(ctx, standby); err != nil {
		b.Fatal(err)
	}
	waitReady(b, c, standby.Addr)
	if err := drv.SetPriority(ctx, spec.Green, PriorityNormal); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, _, err := c.Completion(ctx, standby.Addr, fmt.Sprintf("Warm up number %d, tell me a story", i), 16); err != nil {
			b.Fatal(err)
		}
	}
	w.end = time.Now()
	if err := drv.Stop(ctx, spec.Green, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	return w
}

func waitReady(b *testing.B, c *modelClient, addr string) {
	b.Helper()
	err := poll(context.Background(), 50*time.Millisecond, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		_, err := c.Ready(ctx, addr)
		return err == nil, fmt.Sprint(err), nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// latencies records every request's start and duration.
type latencies struct {
	mu   sync.Mutex
	reqs []window
}

func (l *latencies) load(addr string, stop <-chan struct{}) {
	client := &http.Client{Timeout: time.Minute}
	for {
		select {
		case <-stop:
			return
		default:
		}
		t0 := time.Now()
		resp, err := client.Post("http://"+addr+"/chat", "application/json", strings.NewReader(`{"message":"hello there","max_tokens":8}`))
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		l.mu.Lock()
		l.reqs = append(l.reqs, window{t0, time.Now()})
		l.mu.Unlock()
		time.Sleep(250 * time.Millisecond)
	}
}

// during returns the durations of requests that overlapped any window.
func (l *latencies) during(ws []window) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for _, r := range l.reqs {
		for _, w := range ws {
			if r.start.Before(w.end) && r.end.After(w.start) {
				out = append(out, r.end.Sub(r.start))
				break
			}
		}
	}
	return out
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)]
}

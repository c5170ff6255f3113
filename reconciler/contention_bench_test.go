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
// 100 ms between requests), a standby loads and warms the demo model,
// either as deploys do (loaded at nice 19, thread and autogroup, then
// raised to normal priority for the warm-up gate) or at normal priority
// throughout, in alternating cycles within one run. It reports the active
// color's p50/p99 latency while the standby loads (start to ready) and
// while it warms up, beside idle windows with no standby, and the ratio
// of the load-window p99 at normal priority to that at nice 19.
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
		for cycle := 0; cycle < 8; cycle++ {
			for _, mode := range []string{"idle", "nice19", "nice0"} {
				load, warm := cycleStandby(b, drv, c, inst, mode)
				windows[mode+"/load"] = append(windows[mode+"/load"], load)
				windows[mode+"/warmup"] = append(windows[mode+"/warmup"], warm)
				time.Sleep(500 * time.Millisecond)
			}
		}
	}
	close(stop)
	wg.Wait()
	p99 := map[string]time.Duration{}
	for _, name := range []string{"idle/load", "nice19/load", "nice0/load", "nice19/warmup", "nice0/warmup"} {
		ls := rec.during(windows[name])
		p50, p99m := pct(ls, 50), pct(ls, 99)
		p99[name] = p99m
		var span time.Duration
		for _, w := range windows[name] {
			span += w.end.Sub(w.start)
		}
		b.Logf("%-14s %4d requests in %8s of windows: p50 %6s p99 %6s", name, len(ls), span.Round(time.Millisecond),
			p50.Round(time.Millisecond), p99m.Round(time.Millisecond))
		b.ReportMetric(float64(p99m.Milliseconds()), "p99-ms-"+strings.ReplaceAll(name, "/", "-"))
	}
	if p99["nice19/load"] > 0 {
		b.ReportMetric(float64(p99["nice0/load"])/float64(p99["nice19/load"]), "load-p99-nice0/nice19")
	}
}

type window struct{ start, end time.Time }

// cycleStandby starts green at the mode's priority and waits until it is
// ready (the load window), raises it to normal and warms it with two
// 16-token prompts (the warm-up window), and stops it. "idle" waits as
// long with no standby, for the baseline.
func cycleStandby(b *testing.B, drv *Process, c *modelClient, inst func(spec.Color, Priority) Instance, mode string) (load, warm window) {
	ctx := context.Background()
	if mode == "idle" {
		load.start = time.Now()
		time.Sleep(time.Second)
		load.end = time.Now()
		return load, window{load.end, load.end}
	}
	p := PriorityLow
	if mode == "nice0" {
		p = PriorityNormal
	}
	standby := inst(spec.Green, p)
	load.start = time.Now()
	if _, err := drv.Start(ctx, standby); err != nil {
		b.Fatal(err)
	}
	waitReady(b, c, standby.Addr)
	load.end = time.Now()
	if err := drv.SetPriority(ctx, spec.Green, PriorityNormal); err != nil {
		b.Fatal(err)
	}
	warm.start = time.Now()
	for i := 0; i < 2; i++ {
		if _, _, err := c.Completion(ctx, standby.Addr, fmt.Sprintf("Warm up number %d, tell me a story", i), 16); err != nil {
			b.Fatal(err)
		}
	}
	warm.end = time.Now()
	if err := drv.Stop(ctx, spec.Green, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	return load, warm
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
		time.Sleep(100 * time.Millisecond)
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

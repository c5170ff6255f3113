package process

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/modelserver/modelclient"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// BenchmarkContention measures what CPU-contention-aware loading buys,
// and what it costs: while clients keep the active color busy (two
// clients, each pausing 100 ms between requests), a standby loads and
// warms the demo model, either as deploys do (loaded and warmed at a low
// nice, thread and autogroup, raised to normal priority by the swap), at
// nice 19 or at nice 10, or at normal priority throughout, in alternating
// cycles within one run. It reports the active color's p50/p99 latency
// while the standby loads (start to ready) and while it warms up, beside
// idle windows with no standby; the median load and warm-up times of each
// mode; and ratios: the p99 of nice 10 and of normal priority to that of
// nice 19 in each window, and the load time at nice 19 to that at nice 10.
//
//	make bench-contention
func BenchmarkContention(b *testing.B) {
	model := testenv.Model(b, "demo-v1.gguf")
	drv, err := New(driver.Config{StateDir: b.TempDir(), Modelserver: testenv.Binary(b, "modelserver")})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	inst := func(c spec.Color, p driver.Priority) driver.Instance {
		return driver.Instance{Color: c, Addr: testenv.FreeAddr(b), ModelName: "demo", ModelVersion: "v1", ModelPath: model,
			Threads: 2, Parallel: 2, Ctx: 1024, Priority: p, ConfigHash: "bench", ShutdownTimeout: 10 * time.Second}
	}
	active := inst(spec.Blue, driver.PriorityNormal)
	if _, err := drv.Start(ctx, active); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = drv.Stop(ctx, spec.Blue, 10*time.Second)
		_ = drv.Stop(ctx, spec.Green, 10*time.Second)
	})
	c := modelclient.New()
	waitReady(b, c, active.Addr)
	rec := &testenv.ChatLoop{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); rec.Run("http://"+active.Addr, stop) }()
	}
	time.Sleep(2 * time.Second) // warm the active color's caches
	modes := []string{"idle", "nice19", "nice10", "nice0"}
	windows := map[string][]testenv.Window{}
	for i := 0; i < b.N; i++ {
		for cycle := 0; cycle < 6; cycle++ {
			for _, mode := range modes {
				load, warm := cycleStandby(b, drv, c, inst, mode)
				windows[mode+"/load"] = append(windows[mode+"/load"], load)
				windows[mode+"/warmup"] = append(windows[mode+"/warmup"], warm)
				time.Sleep(500 * time.Millisecond)
			}
		}
	}
	close(stop)
	wg.Wait()
	p99, ready := map[string]time.Duration{}, map[string]time.Duration{}
	for _, mode := range modes {
		for _, phase := range []string{"load", "warmup"} {
			name := mode + "/" + phase
			if mode == "idle" && phase == "warmup" {
				continue
			}
			ls := rec.Overlapping(windows[name])
			p50, p99m := testenv.Percentile(ls, 50), testenv.Percentile(ls, 99)
			p99[name] = p99m
			var spans []time.Duration
			for _, w := range windows[name] {
				spans = append(spans, w.End.Sub(w.Start))
			}
			if phase == "load" {
				ready[mode] = testenv.Percentile(spans, 50)
			} else {
				b.ReportMetric(testenv.Percentile(spans, 50).Seconds(), "warm-s-"+mode)
			}
			b.Logf("%-14s %4d requests: p50 %6s p90 %6s p99 %6s; window median %6s (min %6s, max %6s)", name, len(ls),
				p50.Round(time.Millisecond), testenv.Percentile(ls, 90).Round(time.Millisecond), p99m.Round(time.Millisecond), testenv.Percentile(spans, 50).Round(time.Millisecond),
				testenv.Percentile(spans, 0).Round(time.Millisecond), testenv.Percentile(spans, 100).Round(time.Millisecond))
			b.ReportMetric(float64(p99m.Milliseconds()), "p99-ms-"+strings.ReplaceAll(name, "/", "-"))
		}
		if mode != "idle" {
			b.ReportMetric(ready[mode].Seconds(), "ready-s-"+mode)
		}
	}
	if p99["nice19/load"] > 0 {
		b.ReportMetric(float64(p99["nice0/load"])/float64(p99["nice19/load"]), "load-p99-nice0/nice19")
		b.ReportMetric(float64(p99["nice10/load"])/float64(p99["nice19/load"]), "load-p99-nice10/nice19")
	}
	if p99["nice10/warmup"] > 0 {
		b.ReportMetric(float64(p99["nice0/warmup"])/float64(p99["nice10/warmup"]), "warmup-p99-nice0/nice10")
	}
	if ready["nice10"] > 0 {
		b.ReportMetric(ready["nice19"].Seconds()/ready["nice10"].Seconds(), "ready-nice19/nice10")
	}
}

// cycleStandby starts green at the mode's priority (nice19 and nice10:
// PriorityLow at that nice; nice0: normal) and waits until it is ready (the
// load window), warms it with two 16-token prompts at that priority (the
// warm-up window), raises it to normal as the swap does, and stops it.
// "idle" waits a second with no standby, for the baseline.
func cycleStandby(b *testing.B, drv *Process, c *modelclient.Client, inst func(spec.Color, driver.Priority) driver.Instance, mode string) (load, warm testenv.Window) {
	ctx := context.Background()
	if mode == "idle" {
		load.Start = time.Now()
		time.Sleep(time.Second)
		load.End = time.Now()
		return load, testenv.Window{Start: load.End, End: load.End}
	}
	p := driver.PriorityLow
	switch mode {
	case "nice0":
		p = driver.PriorityNormal
	case "nice10":
		drv.lowNice = 10
	case "nice19":
		drv.lowNice = 19
	}
	standby := inst(spec.Green, p)
	load.Start = time.Now()
	if _, err := drv.Start(ctx, standby); err != nil {
		b.Fatal(err)
	}
	waitReady(b, c, standby.Addr)
	load.End = time.Now()
	warm.Start = time.Now()
	for i := 0; i < 2; i++ {
		if _, _, err := c.Completion(ctx, standby.Addr, fmt.Sprintf("Warm up number %d, tell me a story", i), 16); err != nil {
			b.Fatal(err)
		}
	}
	warm.End = time.Now()
	// As the swap does: raised to normal after the warm-up.
	if err := drv.SetPriority(ctx, spec.Green, driver.PriorityNormal); err != nil {
		b.Fatal(err)
	}
	if err := drv.Stop(ctx, spec.Green, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	return load, warm
}

func waitReady(b *testing.B, c *modelclient.Client, addr string) {
	b.Helper()
	var err error
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err = c.Ready(context.Background(), addr); err == nil {
			return
		}
	}
	b.Fatalf("%s not ready within 2m: %v", addr, err)
}

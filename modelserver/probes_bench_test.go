package modelserver_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/reconciler"
)

// BenchmarkProbes (make bench-probes) measures what the reconciler's probes
// cost a model server, on the 1 GB SmolLM2-shaped model by default: the
// server's CPU while it is probed at the reconciler's rates, minus its CPU
// while nobody probes it, as a share of one core (goal < 1 %). Two servers
// run side by side: one ready, one held not ready by a --memory-limit below
// its PSS (the state in which a ready gate polls /ready). Phases per server,
// each ZDML_BENCH_WINDOW long: idle, /health/deep alone (the resync loop's
// rate between deploys), and /health/deep plus /ready (a ready gate).
// Then the ready gate's own poll on the not-ready server (/health/deep,
// /ready, /health/deep per poll), at the fixed 100 ms it used before and
// with its backoff now, side by side, with their ratio.
// Knobs: ZDML_BENCH_MODEL (smollm2-shaped-v1.gguf), ZDML_BENCH_DEEP_EVERY
// (2s), ZDML_BENCH_READY_EVERY (100ms), ZDML_BENCH_WINDOW (20s).
func BenchmarkProbes(b *testing.B) {
	model := testenv.Model(b, benchEnv("ZDML_BENCH_MODEL", "smollm2-shaped-v1.gguf"))
	deepEvery := benchDuration(b, "ZDML_BENCH_DEEP_EVERY", 2*time.Second)
	readyEvery := benchDuration(b, "ZDML_BENCH_READY_EVERY", 100*time.Millisecond)
	window := benchDuration(b, "ZDML_BENCH_WINDOW", 20*time.Second)
	common := []string{"--model", model, "--threads", "1", "--parallel", "2", "--ctx", "1024", "--log-level", "info"}
	ready := readyServer(b, append(common, "--memory-limit", "3Gi")...)
	notReady := startServer(b, append(common, "--memory-limit", "64Mi")...)
	notReady.waitNotReady(b, "memory")

	fmt.Printf("\nprobe cost: %s, /health/deep every %s, /ready every %s, %s per phase\n", model, deepEvery, readyEvery, window)
	for _, srv := range []struct {
		name string
		s    *server
	}{{"ready", ready}, {"not ready", notReady}} {
		for range b.N {
			idle := probeCPU(b, srv.s, window, nil)
			deep := probeCPU(b, srv.s, window, []probeRate{{"/health/deep", deepEvery}})
			gate := probeCPU(b, srv.s, window, []probeRate{{"/health/deep", deepEvery}, {"/ready", readyEvery}})
			fmt.Printf("  %-9s idle %5.2f %% of a core\n", srv.name, idle.percent())
			for _, p := range []struct {
				name string
				r    probeRun
			}{{"deep", deep}, {"deep+ready", gate}} {
				fmt.Printf("  %-9s %-10s %5.2f %% of a core above idle (goal < 1 %%), %s\n",
					srv.name, p.name, p.r.percent()-idle.percent(), p.r.perCall(idle))
			}
			name := strings.ReplaceAll(srv.name, " ", "_")
			b.ReportMetric(deep.percent()-idle.percent(), name+"_deep_%core")
			b.ReportMetric(gate.percent()-idle.percent(), name+"_deep+ready_%core")
		}
	}
	fmt.Println("  (ready's deep+ready includes the readiness inference /ready runs at most every 5 s, by design)")

	// The ready gate's own pattern on the not-ready server: each poll is the
	// driver's /health/deep, /ready, and /health/deep again (the hopeless
	// check after a 503), every 100 ms before (fixed) and now backing off
	// from reconciler.ReadyPollFirst to ReadyPollMax, measured side by side.
	for range b.N {
		idle := probeCPU(b, notReady, window, nil)
		fixed := gateCPU(b, notReady, window, func(time.Duration) time.Duration { return 100 * time.Millisecond })
		backoff := gateCPU(b, notReady, window, func(last time.Duration) time.Duration {
			if last == 0 {
				return reconciler.ReadyPollFirst
			}
			return min(2*last, reconciler.ReadyPollMax)
		})
		f, k := fixed.percent()-idle.percent(), backoff.percent()-idle.percent()
		fmt.Printf("  ready gate on the not-ready server, %s: fixed 100 ms %5.2f %% of a core above idle (%s)\n", window, f, fixed.perCall(idle))
		fmt.Printf("  ready gate on the not-ready server, %s: backoff %s..%s %5.2f %% of a core above idle (%s); fixed/backoff %.1fx\n",
			window, reconciler.ReadyPollFirst, reconciler.ReadyPollMax, k, backoff.perCall(idle), f/max(k, 0.01))
		b.ReportMetric(f, "gate_fixed_%core")
		b.ReportMetric(k, "gate_backoff_%core")
	}
}

// gateCPU polls s as the reconciler's ready gate does for window: each
// poll is /health/deep (the driver's Inspect), /ready, and /health/deep
// again when /ready is not 200 (the hopeless check); next gives the wait
// after a poll from the one before (0 first). It returns the server's CPU.
func gateCPU(b *testing.B, s *server, window time.Duration, next func(last time.Duration) time.Duration) probeRun {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	run := probeRun{calls: map[string]int{}, status: map[string]int{}}
	get := func(path string) int {
		resp, err := client.Get(s.URL + path)
		if err != nil {
			b.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		run.calls[path]++
		run.status[path] = resp.StatusCode
		return resp.StatusCode
	}
	cpu0, start := serverCPU(b, s), time.Now()
	var wait time.Duration
	for time.Since(start) < window {
		get("/health/deep")
		if get("/ready") != http.StatusOK {
			get("/health/deep")
		}
		wait = next(wait)
		time.Sleep(min(wait, time.Until(start.Add(window))))
	}
	run.cpu, run.wall = serverCPU(b, s)-cpu0, time.Since(start)
	return run
}

type probeRate struct {
	path  string
	every time.Duration
}

// probeRun is what one phase measured.
type probeRun struct {
	cpu    time.Duration
	wall   time.Duration
	calls  map[string]int
	status map[string]int // last status per path
}

func (r probeRun) percent() float64 { return 100 * r.cpu.Seconds() / r.wall.Seconds() }

// perCall attributes the CPU above idle to the calls made.
func (r probeRun) perCall(idle probeRun) string {
	n := 0
	var parts []string
	for p, c := range r.calls {
		n += c
		parts = append(parts, fmt.Sprintf("%d x %s (%d)", c, p, r.status[p]))
	}
	above := r.cpu - time.Duration(float64(idle.cpu)*r.wall.Seconds()/idle.wall.Seconds())
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f ms per call over %s", float64(above.Microseconds())/1000/float64(n), strings.Join(parts, ", "))
}

// probeCPU polls s at rates for window, with a fresh connection per call
// as the reconciler's client does, and returns the server's CPU meanwhile.
func probeCPU(b *testing.B, s *server, window time.Duration, rates []probeRate) probeRun {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	run := probeRun{calls: map[string]int{}, status: map[string]int{}}
	next := make([]time.Time, len(rates))
	cpu0, start := serverCPU(b, s), time.Now()
	for now := start; now.Sub(start) < window; now = time.Now() {
		wake := start.Add(window)
		for i, r := range rates {
			if !now.Before(next[i]) {
				resp, err := client.Get(s.URL + r.path)
				if err != nil {
					b.Fatalf("GET %s: %v", r.path, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				run.calls[r.path]++
				run.status[r.path] = resp.StatusCode
				next[i] = now.Add(r.every)
			}
			if next[i].Before(wake) {
				wake = next[i]
			}
		}
		time.Sleep(time.Until(wake))
	}
	run.cpu, run.wall = serverCPU(b, s)-cpu0, time.Since(start)
	return run
}

// serverCPU is the server process's user+system time (USER_HZ 100).
func serverCPU(b *testing.B, s *server) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func benchEnv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func benchDuration(b *testing.B, key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration", key, v)
	}
	return d
}

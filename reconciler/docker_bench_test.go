package reconciler

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
)

// BenchmarkDockerVsProcess runs the same blue/green deploy of the demo
// model (v1 and v2 alternately, two clients chatting through nginx, none
// may fail) with the process driver and a local nginx, then with the
// Docker driver and nginx in a container, and prints the mean duration of
// every step side by side with the ratio docker/process. The swap is the
// nginx reload, verified: a HUP through the Docker API against a signal to
// a local process.
//
//	make bench-docker
func BenchmarkDockerVsProcess(b *testing.B) {
	means := map[string]map[string]time.Duration{}
	for _, rt := range []string{"process", "docker"} {
		b.Run(rt, func(b *testing.B) {
			var e *env
			if rt == "docker" {
				e = newDockerEnv(b).env
			} else {
				e = newEnv(b)
			}
			first := desiredSpec{Version: "v0", Path: "demo-v1.gguf", ReadyTimeout: "120s", Extra: benchRuntime(rt)}
			e.commit(first.yaml(), "v0")
			e.start()
			e.waitSynced("v0", 5*time.Minute)
			loop := startClients(b, e.public, 2)
			b.ResetTimer()
			sum := map[string]time.Duration{}
			for i := 0; i < b.N; i++ {
				path := "demo-v2.gguf"
				if i%2 == 1 {
					path = "demo-v1.gguf"
				}
				version := fmt.Sprintf("v%d", i+1)
				e.commit(desiredSpec{Version: version, Path: path, ReadyTimeout: "120s", Extra: benchRuntime(rt)}.yaml(), version)
				recs := e.waitDeploys(i+2, 5*time.Minute)
				addSteps(b, sum, recs[len(recs)-1])
			}
			b.StopTimer()
			loop.check(b)
			report(b, sum, b.N)
			for k := range sum {
				sum[k] /= time.Duration(b.N)
			}
			means[rt] = sum
		})
	}
	if means["process"] != nil && means["docker"] != nil {
		printSideBySide(os.Stdout, means["process"], means["docker"])
	}
}

func benchRuntime(rt string) string {
	if rt != "docker" {
		return ""
	}
	return "  runtime: docker\n  image: " + dockertest.ModelserverImage() + "\n"
}

// printSideBySide writes the mean step durations of both runtimes.
func printSideBySide(w *os.File, proc, dock map[string]time.Duration) {
	steps := append(slices.Clone(allSteps), "total")
	fmt.Fprintf(w, "\nblue/green deploy of the demo model, mean per deploy\n")
	fmt.Fprintf(w, "%-10s %12s %12s %8s\n", "step", "process", "docker", "ratio")
	fmt.Fprintln(w, strings.Repeat("-", 45))
	for _, s := range steps {
		p, d := proc[s], dock[s]
		ratio := "-"
		if p > 0 {
			ratio = fmt.Sprintf("%.2f", float64(d)/float64(p))
		}
		fmt.Fprintf(w, "%-10s %12s %12s %8s\n", s, p.Round(time.Millisecond), d.Round(time.Millisecond), ratio)
	}
	fmt.Fprintf(w, "swap (nginx reload, verified): process %s, docker %s\n\n",
		proc[StepSwap].Round(time.Millisecond), dock[StepSwap].Round(time.Millisecond))
}

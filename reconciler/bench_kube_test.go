package reconciler

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// BenchmarkKubeDeploySteps measures a blue/green deploy step by step on
// runtime kubernetes (the real single-node cluster) and on runtime
// process, in one run, alternating: a deploy on one, then on the other,
// ROUNDS times, each under two chatting clients (none may fail) and only
// one of them deploying at a time, on the same model. It prints each
// step's mean on both and the ratio kubernetes / process.
//
//	make bench-kubernetes ROUNDS=3 MODEL=tiny
func BenchmarkKubeDeploySteps(b *testing.B) {
	rounds := testenv.BenchInt(b, "ZDML_BENCH_ROUNDS", 3)
	model := testenv.BenchNames(b, "ZDML_BENCH_MODEL", "tiny", "tiny", "demo")[0]
	v1, v2 := "tiny.gguf", "tiny.gguf"
	if model == "demo" {
		v1, v2 = "demo-v1.gguf", "demo-v2.gguf"
	}
	for i := 0; i < b.N; i++ {
		k := newKubeEnv(b)
		k.commit(k.spec("v0", v1), "v0")
		k.start()
		k.waitSynced("v0", 5*time.Minute)
		p := newEnv(b)
		p.commit(desiredSpec{Version: "v0", Path: v1}.yaml(), "v0")
		p.start()
		p.waitSynced("v0", 5*time.Minute)
		sums := map[string]map[string]time.Duration{"kubernetes": {}, "process": {}}
		for n := 1; n <= rounds; n++ {
			path, version := v2, fmt.Sprintf("v%d", n)
			if n%2 == 0 {
				path = v1
			}
			benchDeploy(b, p, desiredSpec{Version: version, Path: path}.yaml(), version, n+1, sums["process"], p.clients)
			benchDeploy(b, k.env, k.spec(version, path), version, n+1, sums["kubernetes"], k.clients)
		}
		printRatios(b, model, rounds, sums)
		k.stop()
		p.stop()
	}
}

// benchDeploy commits version under two clients and adds the deploy's
// step timings to sum.
func benchDeploy(b *testing.B, e *env, yaml, version string, n int, sum map[string]time.Duration, clients func(int) *clientLoop) {
	loop := clients(2)
	loop.waitOK(b, 5)
	e.commit(yaml, version)
	recs := e.waitDeploys(n, 5*time.Minute)
	loop.waitOK(b, 5)
	loop.check(b)
	addSteps(b, sum, recs[len(recs)-1])
}

// clients chat through nginx's public listener (kubeEnv.clients: through
// the stable Service).
func (e *env) clients(workers int) *clientLoop { return startClients(e.t, e.public, workers) }

// printRatios prints each step's mean on both runtimes and their ratio,
// and reports the total's ratio.
func printRatios(b *testing.B, model string, rounds int, sums map[string]map[string]time.Duration) {
	mean := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(rounds) }
	fmt.Printf("deploy steps on runtime kubernetes vs process, %s model, mean of %d deploys each, alternating, 2 clients:\n", model, rounds)
	fmt.Printf("  %-10s %12s %12s %8s\n", "step", "kubernetes", "process", "ratio")
	steps := append(slices.Clone(allSteps), "total")
	for _, s := range steps {
		k, p := mean(sums["kubernetes"][s]), mean(sums["process"][s])
		ratio := "-"
		if p > 0 {
			ratio = fmt.Sprintf("%.1f", k/p)
		}
		fmt.Printf("  %-10s %10.0f ms %10.0f ms %8s\n", s, k, p, ratio)
		b.ReportMetric(k, "ms-kube-"+s)
	}
	if p := mean(sums["process"]["total"]); p > 0 {
		b.ReportMetric(mean(sums["kubernetes"]["total"])/p, "kube/process-total")
	}
}

package reconciler

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkDeploySteps measures a blue/green deploy, step by step, on the
// tiny and the demo model, with two clients chatting through nginx (none
// may fail); and deploy-fast (promote of a prewarmed standby): swap plus
// drain. Each sub-benchmark deploys b.N times, alternating v1 and v2, and
// reports the mean of each step in ms.
//
//	make bench-deploy
func BenchmarkDeploySteps(b *testing.B) {
	for _, m := range []struct{ name, v1, v2 string }{
		{"tiny", "tiny.gguf", "tiny.gguf"},
		{"demo", "demo-v1.gguf", "demo-v2.gguf"},
	} {
		b.Run(m.name, func(b *testing.B) {
			e, loop := benchEnv(b, desiredSpec{Version: "v0", Path: m.v1})
			sum := map[string]time.Duration{}
			for i := 0; i < b.N; i++ {
				path := m.v2
				if i%2 == 1 {
					path = m.v1
				}
				version := fmt.Sprintf("v%d", i+1)
				e.commit(desiredSpec{Version: version, Path: path}.yaml(), version)
				recs := e.waitDeploys(i+2, 5*time.Minute)
				addSteps(b, sum, recs[len(recs)-1])
			}
			loop.check(b)
			report(b, sum, b.N)
		})
	}
	b.Run("deploy-fast", func(b *testing.B) {
		e, loop := benchEnv(b, desiredSpec{Version: "v0", Path: "demo-v1.gguf", Strategy: "prewarm", AutoPromote: "false"})
		sum := map[string]time.Duration{}
		for i := 0; i < b.N; i++ {
			version := fmt.Sprintf("v%d", i+1)
			e.commit(desiredSpec{Version: version, Path: "demo-v2.gguf", Strategy: "prewarm", AutoPromote: "false"}.yaml(), version)
			e.waitFor("prewarmed "+version, 5*time.Minute, func() bool {
				c, ok := condition(e.r.Status(), CondProgressing)
				return ok && c.Reason == "AwaitingPromotion" && e.r.Status().DesiredVersion == version
			})
			if _, err := e.r.Do(context.Background(), Request{Action: ActionPromote}); err != nil {
				b.Fatal(err)
			}
			recs := e.waitDeploys(2*i+3, time.Minute)
			addSteps(b, sum, recs[len(recs)-1])
		}
		loop.check(b)
		report(b, sum, b.N)
		b.ReportMetric(float64((sum[StepSwap]+sum[StepDrain]).Milliseconds())/float64(b.N), "ms-swap+drain")
	})
}

func benchEnv(b *testing.B, first desiredSpec) (*env, *clientLoop) {
	e := newEnv(b)
	e.commit(first.yaml(), "v0")
	e.start()
	e.waitSynced("v0", 5*time.Minute)
	b.ResetTimer()
	return e, startClients(b, e.public, 2)
}

func addSteps(b *testing.B, sum map[string]time.Duration, rec DeployRecord) {
	if rec.Outcome != OutcomeSucceeded {
		b.Fatalf("deploy %s %s: %s", rec.ID, rec.Outcome, rec.Reason)
	}
	for _, s := range rec.Steps {
		sum[s.Name] += s.Duration
	}
	sum["total"] += rec.Duration
}

func report(b *testing.B, sum map[string]time.Duration, n int) {
	for name, d := range sum {
		b.ReportMetric(float64(d.Microseconds())/1000/float64(n), "ms-"+name)
	}
}

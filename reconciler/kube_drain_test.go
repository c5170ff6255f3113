package reconciler

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestKubeDrainWaitsForInFlight: a long generation sent through the
// stable Service is in flight on blue when the swap begins. The drain
// waits for that real request (blue's pods out of the EndpointSlices and
// their /health/deep in_flight 0, read through the pod proxy), and it
// completes in full on v1 before blue is scaled to zero.
func TestKubeDrainWaitsForInFlight(t *testing.T) {
	e := newKubeEnv(t)
	e.commit(e.spec("v1", "demo-v1.gguf"), "v1") // slow enough to be in flight
	e.start()
	e.waitSynced("v1", 4*time.Minute)
	long := make(chan testenv.Reply, 1)
	send := func() {
		hc := e.k.HTTPClient()
		hc.Timeout = 2 * time.Minute
		long <- testenv.PostChat(hc, e.k.Router().Addr()+"/chat", `{"message":"tell me a long story","max_tokens":200}`)
	}
	e.r.events.setSink(func(ev Event) {
		if ev.Step != StepSwap || ev.Phase != PhaseStart || ev.Version != "v2" {
			return
		}
		go send()
		poll(context.Background(), 5*time.Millisecond, 20*time.Second, func(ctx context.Context) (bool, string, error) {
			d, err := e.k.Client().Deep(ctx, e.k.Addr(spec.Blue))
			return err == nil && d.InFlight > 0, "", nil
		})
	})
	e.commit(e.spec("v2", "demo-v2.gguf"), "v2")
	recs := e.waitDeploys(2, 4*time.Minute)
	r := <-long
	if r.Err != nil || r.Status != "200 OK" || r.Version != "v1" || r.Tokens == 0 {
		t.Fatalf("long request: %+v, want 200 from v1 with tokens", r)
	}
	last := recs[len(recs)-1]
	drain := stepOf(last, StepDrain)
	t.Logf("drain %s (%s); the long request of %d tokens ended %s before the deploy did", drain.Duration.Round(time.Millisecond),
		drain.Message, r.Tokens, last.FinishedAt.Sub(r.Done).Round(time.Millisecond))
	if !strings.Contains(drain.Message, "drained 1 in-flight") {
		t.Errorf("drain: %q, want it to have waited for 1 in-flight request", drain.Message)
	}
	if last.Outcome != OutcomeSucceeded {
		t.Errorf("deploy %s: %s", last.Outcome, last.Reason)
	}
}

// TestKubeServiceEditedHeals: the stable Service's selector moved by hand
// to the stopped color (no endpoints: every request fails) is moved back
// by the reconciler's self-heal, and the Service serves v1 again.
func TestKubeServiceEditedHeals(t *testing.T) {
	e := newKubeEnv(t)
	e.serveV1()
	patch := `{"spec":{"selector":{"zdml.dev/color":"green"}}}`
	edited := time.Now()
	if _, err := e.c.Client.CoreV1().Services(e.ns).Patch(context.Background(), "chat", types.MergePatchType, []byte(patch),
		metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	e.healed(HealNginxConfig, time.Minute)
	e.waitServes(spec.Blue, "v1", time.Minute)
	t.Logf("measured: selector edited by hand -> served by blue again after %s", time.Since(edited).Round(time.Millisecond))
	loop := e.clients(2)
	loop.waitOK(t, 10)
	loop.check(t)
}

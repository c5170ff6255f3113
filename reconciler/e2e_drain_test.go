package reconciler

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// TestDrainWaitsForInFlight starts a long generation on the old color
// just before the swap: the drain waits for that real request, not a
// fixed delay, and it completes in full on the old version.
func TestDrainWaitsForInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.commit(desiredSpec{Version: "v1", Path: "demo-v1.gguf"}.yaml(), "v1") // slow enough to be in flight
	e.start()
	e.waitSynced("v1", time.Minute)
	type reply struct {
		status, version string
		tokens          int
		err             error
		done            time.Time
	}
	long := make(chan reply, 1)
	e.r.events.setSink(func(ev Event) {
		if ev.Step != StepSwap || ev.Phase != PhaseStart || ev.Version != "v2" {
			return
		}
		go func() {
			resp, err := http.Post("http://"+e.public+"/chat", "application/json",
				strings.NewReader(`{"message":"tell me a long story","max_tokens":200}`))
			if err != nil {
				long <- reply{err: err}
				return
			}
			defer resp.Body.Close()
			var body struct {
				Usage struct {
					CompletionTokens int `json:"completion_tokens"`
				} `json:"usage"`
			}
			b, _ := io.ReadAll(resp.Body)
			err = json.Unmarshal(b, &body)
			long <- reply{resp.Status, resp.Header.Get("X-Model-Version"), body.Usage.CompletionTokens, err, time.Now()}
		}()
		// Hold the swap until the request is being generated on blue.
		poll(context.Background(), 5*time.Millisecond, 10*time.Second, func(ctx context.Context) (bool, string, error) {
			d, err := e.r.client.Deep(ctx, e.colors[spec.Blue])
			return err == nil && d.InFlight > 0, "", nil
		})
	})
	e.commit(desiredSpec{Version: "v2", Path: "demo-v2.gguf", DrainTimeout: "60s"}.yaml(), "v2")
	recs := e.waitDeploys(2, time.Minute)
	r := <-long
	if r.err != nil || r.status != "200 OK" || r.version != "v1" || r.tokens == 0 {
		t.Fatalf("long request: %+v, want 200 from v1 with tokens", r)
	}
	last := recs[len(recs)-1]
	var drain, stop StepTiming
	for _, s := range last.Steps {
		switch s.Name {
		case StepDrain:
			drain = s
		case StepStop:
			stop = s
		}
	}
	t.Logf("drain %s (%s), long request of %d tokens ended %s before the stop step ended", drain.Duration, drain.Message,
		r.tokens, last.FinishedAt.Sub(r.done))
	if !strings.Contains(drain.Message, "drained 1 in-flight") {
		t.Errorf("drain: %q, want it to have waited for 1 in-flight request", drain.Message)
	}
	if last.Outcome != OutcomeSucceeded || stop.Outcome != "ok" {
		t.Errorf("deploy %s, stop %s", last.Outcome, stop.Outcome)
	}
}

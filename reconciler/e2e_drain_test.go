package reconciler

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/internal/testenv"
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
	long := make(chan testenv.Reply, 1)
	holdSwapUntilInFlight(e, func() {
		long <- testenv.PostChat(http.DefaultClient, "http://"+e.public+"/chat", `{"message":"tell me a long story","max_tokens":200}`)
	})
	e.commit(desiredSpec{Version: "v2", Path: "demo-v2.gguf", DrainTimeout: "60s"}.yaml(), "v2")
	recs := e.waitDeploys(2, time.Minute)
	r := <-long
	if r.Err != nil || r.Status != "200 OK" || r.Version != "v1" || r.Tokens == 0 {
		t.Fatalf("long request: %+v, want 200 from v1 with tokens", r)
	}
	last := recs[len(recs)-1]
	drain, stop := stepOf(last, StepDrain), stepOf(last, StepStop)
	t.Logf("drain %s (%s), long request of %d tokens ended %s before the stop step ended", drain.Duration, drain.Message,
		r.Tokens, last.FinishedAt.Sub(r.Done))
	if !strings.Contains(drain.Message, "drained 1 in-flight") {
		t.Errorf("drain: %q, want it to have waited for 1 in-flight request", drain.Message)
	}
	if last.Outcome != OutcomeSucceeded || stop.Outcome != "ok" {
		t.Errorf("deploy %s, stop %s", last.Outcome, stop.Outcome)
	}
}

// TestDrainLongStream: a 480-token stream on /v1/chat/completions runs
// across a deploy whose drainTimeout is long enough. It ends with [DONE]
// from the old version, the drain says it drained it, the deploy is a
// clean success, and both timeouts that could cut it follow the spec's
// drainTimeout: nginx's worker_shutdown_timeout (drainTimeout + 30 s; it
// was a fixed 60 s, which cut every stream 60 s after the swap) and each
// color's --shutdown-timeout (drainTimeout + 10 s).
func TestDrainLongStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.commit(desiredSpec{Version: "v1", Path: "demo-v1.gguf", DrainTimeout: "100s"}.yaml(), "v1")
	e.start()
	e.waitSynced("v1", time.Minute)
	stream := make(chan streamResult, 1)
	holdSwapUntilInFlight(e, func() { stream <- streamChat(e.public, 480) })
	e.commit(desiredSpec{Version: "v2", Path: "demo-v2.gguf", DrainTimeout: "100s"}.yaml(), "v2")
	recs := e.waitDeploys(2, 4*time.Minute)
	s := <-stream
	last := recs[len(recs)-1]
	drain := stepOf(last, StepDrain)
	t.Logf("stream: %+v; drain %s: %s", s, drain.Duration.Round(time.Millisecond), drain.Message)
	if s.err != nil || !s.done || s.version != "v1" || s.chunks < 100 {
		t.Errorf("stream %+v, want a long stream from v1 ending with [DONE]", s)
	}
	if last.Outcome != OutcomeSucceeded || !strings.Contains(drain.Message, "drained 1 in-flight") {
		t.Errorf("deploy %s, drain %q; want succeeded, drained 1 in-flight request", last.Outcome, drain.Message)
	}
	conf, err := os.ReadFile(filepath.Join(e.stateDir, "nginx", "nginx.conf"))
	if err != nil || !strings.Contains(string(conf), "\nworker_shutdown_timeout 130s;\n") {
		t.Errorf("nginx.conf lacks worker_shutdown_timeout 130s (drainTimeout 100s + 30s); err %v", err)
	}
	if args := colorArgs(t, e, spec.Green); !strings.Contains(args, "--shutdown-timeout 1m50s") {
		t.Errorf("green runs %q, want --shutdown-timeout 1m50s (drainTimeout 100s + 10s)", args)
	}
}

// TestDrainTimeoutDegraded: a drainTimeout shorter than a stream in
// flight. The drain gives up with the stream still in flight, and the
// deploy is recorded as degraded, not as a clean success, with the
// number of requests left: in history, status (last deploy and the
// Degraded condition), events and metrics.
func TestDrainTimeoutDegraded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.commit(desiredSpec{Version: "v1", Path: "demo-v1.gguf"}.yaml(), "v1")
	e.start()
	e.waitSynced("v1", time.Minute)
	stream := make(chan streamResult, 1)
	holdSwapUntilInFlight(e, func() { stream <- streamChat(e.public, 480) })
	e.commit(desiredSpec{Version: "v2", Path: "demo-v2.gguf", DrainTimeout: "1s"}.yaml(), "v2")
	recs := e.waitDeploys(2, 2*time.Minute)
	s := <-stream
	last := recs[len(recs)-1]
	drain := stepOf(last, StepDrain)
	t.Logf("stream: %+v; drain: %s; deploy %s: %s", s, drain.Message, last.Outcome, last.Reason)
	if last.Outcome != OutcomeDegraded || len(last.Degraded) != 1 || last.Degraded[0].Reason != DegradedDrainTimedOut ||
		!strings.Contains(last.Reason, "with 1 request in flight") {
		t.Errorf("history: %s %+v (%s), want degraded by DrainTimedOut with 1 request in flight", last.Outcome, last.Degraded, last.Reason)
	}
	if strings.Contains(drain.Message, "drained") {
		t.Errorf("drain %q claims it drained", drain.Message)
	}
	st := e.r.Status()
	if st.LastDeploy == nil || st.LastDeploy.Outcome != OutcomeDegraded || st.ActiveVersion != "v2" {
		t.Errorf("status: last deploy %+v, active %s; want degraded with v2 serving", st.LastDeploy, st.ActiveVersion)
	}
	if c, _ := condition(st, CondDegraded); c.Status != "True" || c.Reason != DegradedDrainTimedOut {
		t.Errorf("Degraded condition %+v, want True DrainTimedOut", c)
	}
	if c, _ := condition(st, CondReady); c.Status != "True" {
		t.Errorf("Ready condition %+v, want True: v2 serves", c)
	}
	if got := metricValue(t, e.reg, "zdml_reconciler_deploys_total", "outcome", OutcomeDegraded); got != 1 {
		t.Errorf("zdml_reconciler_deploys_total{outcome=degraded} = %v, want 1", got)
	}
	if got := metricValue(t, e.reg, "zdml_reconciler_last_drain_left_inflight"); got != 1 {
		t.Errorf("zdml_reconciler_last_drain_left_inflight = %v, want 1", got)
	}
	if !hasEvent(e.events(), StepDrain, PhaseDegraded, "1 request in flight") {
		t.Error("no degraded event for the drain")
	}
}

// TestDrainWorkerListingFails: nginx's workers cannot be listed during
// the drain. That is never "no retiring workers": the drain keeps
// polling, says why, and its timeout leaves the deploy degraded.
func TestDrainWorkerListingFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runner := &badTestRunner{Runner: e.runner}
	e.runner = runner
	e.serveV1()
	e.r.events.setSink(func(ev Event) {
		if ev.Step == StepDrain && ev.Phase == PhaseStart {
			runner.workersFail.Store(true)
		}
	})
	e.commit(desiredSpec{Version: "v2", DrainTimeout: "2s"}.yaml(), "v2")
	recs := e.waitDeploys(2, time.Minute)
	last := recs[len(recs)-1]
	drain := stepOf(last, StepDrain)
	if last.Outcome != OutcomeDegraded || !strings.Contains(drain.Message, "nginx's workers cannot be listed") ||
		!strings.Contains(drain.Message, "timed out") {
		t.Errorf("deploy %s, drain %q; want degraded: timed out, workers cannot be listed", last.Outcome, drain.Message)
	}
}

// holdSwapUntilInFlight runs req when the deploy to v2 starts its swap,
// and holds the swap until the old color (blue) has it in flight.
func holdSwapUntilInFlight(e *env, req func()) {
	e.r.events.setSink(func(ev Event) {
		if ev.Step != StepSwap || ev.Phase != PhaseStart || ev.Version != "v2" {
			return
		}
		go req()
		poll(context.Background(), 5*time.Millisecond, 10*time.Second, func(ctx context.Context) (bool, string, error) {
			d, err := e.r.client.Deep(ctx, e.colors[spec.Blue])
			return err == nil && d.InFlight > 0, "", nil
		})
	})
}

// streamResult is what a client saw of one streamed completion.
type streamResult struct {
	version string
	chunks  int  // data events before [DONE]
	done    bool // [DONE] arrived: the stream was not cut
	took    time.Duration
	err     error
}

// streamChat streams a completion of maxTokens tokens through nginx.
func streamChat(public string, maxTokens int) streamResult {
	body := `{"messages":[{"role":"user","content":"tell me a long story"}],"stream":true,"max_tokens":` + itoa(maxTokens) + `}`
	t0 := time.Now()
	resp, err := http.Post("http://"+public+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return streamResult{err: err}
	}
	defer resp.Body.Close()
	res := streamResult{version: resp.Header.Get("X-Model-Version")}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		switch {
		case !ok:
		case data == "[DONE]":
			res.done = true
		default:
			res.chunks++
		}
	}
	res.err, res.took = sc.Err(), time.Since(t0)
	return res
}

// stepOf returns the named step of a deploy record.
func stepOf(rec DeployRecord, name string) StepTiming {
	for _, s := range rec.Steps {
		if s.Name == name {
			return s
		}
	}
	return StepTiming{}
}

// hasEvent reports whether an event of step and phase mentions msg.
func hasEvent(evs []Event, step, phase, msg string) bool {
	for _, ev := range evs {
		if ev.Step == step && ev.Phase == phase && strings.Contains(ev.Message, msg) {
			return true
		}
	}
	return false
}

// colorArgs is the command line of a color's model server.
func colorArgs(t *testing.T, e *env, c spec.Color) string {
	t.Helper()
	st := e.r.Status()
	for _, cr := range st.Colors {
		if cr.Color == c && cr.ID != "" {
			return strings.Join(procfs.Cmdline(atoi(t, cr.ID)), " ")
		}
	}
	t.Fatalf("%s has no pid in status", c)
	return ""
}

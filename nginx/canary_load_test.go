package nginx

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// streamEvents is how many SSE events the test backends send to a request
// with X-Test-Stream, 10 ms apart: a stream spans reloads (a verified
// reload took up to ~300 ms under -race on 2 busy cores).
const streamEvents = 60

// loadHandler answers a plain request at once, and streams SSE events to a
// request with X-Test-Stream.
func loadHandler(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Test-Stream") == "" {
		_, _ = io.WriteString(w, `{"reply":"ok"}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	for i := range streamEvents {
		fmt.Fprintf(w, "data: %d\n\n", i)
		fl.Flush()
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// readStream reads an SSE body to its end and checks every event came, in
// order, followed by [DONE].
func readStream(body io.Reader) error {
	sc := bufio.NewScanner(body)
	n := 0
	for sc.Scan() {
		d, ok := strings.CutPrefix(sc.Text(), "data: ")
		switch {
		case !ok:
		case d == "[DONE]":
			if n != streamEvents {
				return fmt.Errorf("[DONE] after %d of %d events", n, streamEvents)
			}
			return nil
		case d != fmt.Sprint(n):
			return fmt.Errorf("event %q, want %d", d, n)
		default:
			n++
		}
	}
	return fmt.Errorf("stream cut after %d events: %v", n, sc.Err())
}

// outcome is one request of a load run.
type outcome struct {
	start, end time.Time
	stream     bool
	color      spec.Color
	err        error
}

// loadRun is a load that runs until its stop channel closes.
type loadRun struct {
	done atomic.Int64 // requests completed so far
	wait func() []outcome
}

// settle waits until n more requests have completed: each phase of a test
// gets its share of the load, however slow the machine (-race, other jobs).
func (l *loadRun) settle(t testing.TB, n int64) {
	t.Helper()
	target := l.done.Load() + n
	deadline := time.Now().Add(time.Minute)
	for l.done.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests completed within a minute", l.done.Load(), target)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// load sends user requests from n keep-alive clients until stop closes:
// OpenAI POSTs with and without a body "user", /chat/{id} POSTs, and every
// eighth request an SSE stream.
func load(t testing.TB, addr string, n int, stop <-chan struct{}) *loadRun {
	client := keepAliveClient(t, n)
	run := &loadRun{}
	var mu sync.Mutex
	var out []outcome
	var wg sync.WaitGroup
	var seq atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := seq.Add(1)
				o := outcome{start: time.Now()}
				var c call
				switch i % 8 {
				case 0:
					c, o.stream = chatCall("").with("X-Test-Stream", "1"), true
				case 1, 4:
					c = chatCall(fmt.Sprint("load_", i%50))
				case 2, 5:
					c = idCall("path", fmt.Sprint("load_", i%50))
				default:
					c = chatCall("")
				}
				o.color, o.err = c.stream(client, addr)
				o.end = time.Now()
				mu.Lock()
				out = append(out, o)
				mu.Unlock()
				run.done.Add(1)
			}
		}()
	}
	run.wait = func() []outcome { wg.Wait(); return out }
	return run
}

// stream sends c and checks the answer: 200, and for a stream every event.
func (c call) stream(client *http.Client, addr string) (spec.Color, error) {
	req, err := http.NewRequest(c.method, "http://"+addr+c.path, strings.NewReader(string(c.body)))
	if err != nil {
		return "", err
	}
	req.Header = c.header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	color := spec.Color(resp.Header.Get("X-Model-Color"))
	if resp.StatusCode != http.StatusOK {
		return color, fmt.Errorf("status %d", resp.StatusCode)
	}
	if c.header.Get("X-Test-Stream") != "" {
		return color, readStream(resp.Body)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return color, err
}

// step is one weight of a load run: requests that started after at (its
// Ensure returned) and before the next step's begin must follow weight.
// Requests that start during an Ensure may meet either config.
type step struct {
	weight    int
	begin, at time.Time
}

// stepOf returns the index of the step o started in, or -1 when it started
// during a reload.
func stepOf(steps []step, o outcome) int {
	for i := len(steps) - 1; i >= 0; i-- {
		if !o.start.Before(steps[i].at) {
			if i+1 < len(steps) && !o.start.Before(steps[i+1].begin) {
				return -1
			}
			return i
		}
	}
	return -1
}

// TestCanaryWeightStepsUnderLoad: the weight goes 0 → 10 → 50 → 100 → 0,
// each step a verified reload, under 16 keep-alive clients sending POSTs
// and SSE streams: no request fails, no stream is cut (streams run across
// every reload), every POST reaches an upstream exactly once, and once a
// step's Ensure returns, requests go where its weight says.
func TestCanaryWeightStepsUnderLoad(t *testing.T) {
	p, cfg, blue, green := canaryProxy(t, 0, loadHandler)
	stop := make(chan struct{})
	run := load(t, cfg.PublicAddr, 16, stop)
	steps := []step{{0, time.Now(), time.Now()}}
	run.settle(t, 200) // load on the first weight
	for _, w := range []int{10, 50, 100, 0} {
		begin := time.Now()
		setWeight(t, p, &cfg, w)
		steps = append(steps, step{w, begin, time.Now()})
		run.settle(t, 250)
	}
	close(stop)
	out := run.wait()

	failed, spanning := 0, 0
	perStep := make([]map[spec.Color]int, len(steps))
	for i := range perStep {
		perStep[i] = map[spec.Color]int{}
	}
	for _, o := range out {
		if o.err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("request started %s: %v", o.start.Format("15:04:05.000"), o.err)
			}
			continue
		}
		for _, s := range steps[1:] {
			if o.stream && o.start.Before(s.begin) && o.end.After(s.at) {
				spanning++
			}
		}
		i := stepOf(steps, o)
		if i < 0 {
			continue
		}
		perStep[i][o.color]++
		if w := steps[i].weight; (w == 0 && o.color != spec.Blue) || (w == 100 && o.color != spec.Green) {
			t.Errorf("request started after weight %d%% was applied reached %s", w, o.color)
		}
	}
	for i, s := range steps {
		t.Logf("weight %3d%%: blue %d, green %d", s.weight, perStep[i][spec.Blue], perStep[i][spec.Green])
	}
	got := blue.requests.Load() + green.requests.Load()
	t.Logf("%d requests, %d failed, %d reached an upstream, over %d verified reloads; %d streams ran across a reload",
		len(out), failed, got, len(steps)-1, spanning)
	if failed != 0 {
		t.Errorf("%d of %d requests failed across the weight changes", failed, len(out))
	}
	if got != int64(len(out)) {
		t.Errorf("clients sent %d requests, upstreams got %d: a POST was lost or sent twice", len(out), got)
	}
	if len(out) < 1000 || spanning == 0 || perStep[2][spec.Green] == 0 || perStep[2][spec.Blue] == 0 {
		t.Errorf("the load did not exercise the split: %d requests, %d streams across a reload, at 50%%: %v",
			len(out), spanning, perStep[2])
	}
}

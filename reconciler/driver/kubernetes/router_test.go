package kubernetes

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestSwapUnderLoad deploys v2 beside v1 while clients keep calling the
// stable Service's ClusterIP from the host: the swap is the Service's
// selector, Verify sees its EndpointSlices list only the new color, the
// drain signals clear, the old color stops, and no client request fails.
func TestSwapUnderLoad(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.k.Router()
	e.start(t, e.instance(spec.Blue, "v1", "demo-v1.gguf"))
	if out, err := r.Ensure(ctx, spec.Blue); err != nil || out != Created {
		t.Fatalf("first route: %s, %v; want created", out, err)
	}
	if err := r.Verify(ctx, spec.Blue); err != nil {
		t.Fatal(err)
	}
	url := e.clusterURL(t)
	load := startLoad(t, url, 2)

	_, took := e.start(t, e.instance(spec.Green, "v2", "demo-v2.gguf"))
	t.Logf("measured: start green -> ready beside the serving blue: %s", took.Round(time.Millisecond))
	load.waitServed(t, "v1", 5)

	t0 := time.Now()
	out, err := r.Ensure(ctx, spec.Green)
	if err != nil || out != Switched {
		t.Fatalf("swap: %s, %v; want switched", out, err)
	}
	swapped := time.Since(t0)
	if err := r.Verify(ctx, spec.Green); err != nil {
		t.Fatal(err)
	}
	verified := time.Since(t0)
	if out, err := r.Ensure(ctx, spec.Green); err != nil || out != Unchanged {
		t.Errorf("second swap: %s, %v; want unchanged", out, err)
	}
	if a, err := r.Active(ctx); err != nil || a != spec.Green {
		t.Errorf("active: %q, %v; want green", a, err)
	}

	t1 := time.Now()
	var last DrainState
	waitFor(t, "blue drained", time.Minute, func(ctx context.Context) (bool, string) {
		last, err = r.Drain(ctx, spec.Blue)
		if err != nil {
			return false, err.Error()
		}
		return last.Drained(), last.String()
	})
	drained := time.Since(t1)
	t2 := time.Now()
	if err := e.k.Stop(ctx, spec.Blue, time.Minute); err != nil {
		t.Fatal(err)
	}
	stopped := time.Since(t2)
	t.Logf("measured: swap (selector patched) %s, swap -> verified %s, drain %s (%s), stop %s",
		swapped.Round(time.Millisecond), verified.Round(time.Millisecond), drained.Round(time.Millisecond), last, stopped.Round(time.Millisecond))
	load.waitServed(t, "v2", 10)

	// A rollback to a color with no ready pod is refused, and changes nothing.
	r.readyWait = 2 * time.Second
	if _, err := r.Ensure(ctx, spec.Blue); err == nil {
		t.Error("route to the stopped blue succeeded")
	}
	if a, _ := r.Active(ctx); a != spec.Green {
		t.Errorf("after the refused route: active %q, want green", a)
	}
	load.stop(t)
}

// TestDrainWaitsForInFlight: a long generation on the old color, started
// through the stable Service before the swap, keeps the drain waiting
// after the old pods left the Service's endpoints, until it ends; it
// completes in full on the old version.
func TestDrainWaitsForInFlight(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.k.Router()
	e.start(t, e.instance(spec.Blue, "v1", "demo-v1.gguf"))
	if _, err := r.Ensure(ctx, spec.Blue); err != nil {
		t.Fatal(err)
	}
	url := e.clusterURL(t)
	e.start(t, e.instance(spec.Green, "v2", "demo-v2.gguf"))

	long := make(chan testenv.Reply, 1)
	go func() {
		long <- testenv.PostChat(fresh(), url+"/v1/chat/completions", `{"messages":[{"role":"user","content":"tell me a long story"}],"max_tokens":200}`)
	}()
	waitFor(t, "the long request in flight on blue", 30*time.Second, func(ctx context.Context) (bool, string) {
		d, err := r.Drain(ctx, spec.Blue)
		return err == nil && d.InFlight > 0, d.String()
	})
	if _, err := r.Ensure(ctx, spec.Green); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	held := 0 // observations out of the Service but still holding the request
	var drainedAt time.Time
	waitFor(t, "blue drained", 2*time.Minute, func(ctx context.Context) (bool, string) {
		d, err := r.Drain(ctx, spec.Blue)
		if err != nil {
			return false, err.Error()
		}
		if d.InService == 0 && d.InFlight > 0 {
			held++
		}
		drainedAt = time.Now()
		return d.Drained(), d.String()
	})
	got := <-long
	if got.Err != nil || got.Status != "200 OK" || got.Version != "v1" || got.Tokens == 0 {
		t.Fatalf("long request: %+v, want 200 from v1 with tokens", got)
	}
	if held == 0 {
		t.Errorf("the drain never saw blue out of the Service with the request in flight")
	}
	t.Logf("measured: drain with a %d-token request in flight: %s (%d observations held by it); the request ended %s before the drain was seen done",
		got.Tokens, drainedAt.Sub(t0).Round(time.Millisecond), held, drainedAt.Sub(got.Done).Round(time.Millisecond))
	if err := e.k.Stop(ctx, spec.Blue, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// TestPodKilledHeals: a pod deleted by hand is replaced by its
// Deployment, and Inspect follows: a new pod and instance id, serving the
// same version, with the stable Service listing only it.
func TestPodKilledHeals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inst := e.instance(spec.Blue, "v1", "demo-v1.gguf")
	before, _ := e.start(t, inst)
	r := e.k.Router()
	if _, err := r.Ensure(ctx, spec.Blue); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := e.c.Client.CoreV1().Pods(e.ns).Delete(ctx, before.ID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new pod", time.Minute, func(ctx context.Context) (bool, string) {
		st, err := e.k.Inspect(ctx, spec.Blue)
		return err == nil && st.Running && st.ID != before.ID, fmt.Sprintf("%+v %v", st, err)
	})
	after := e.waitReady(t, inst)
	if err := r.Verify(ctx, spec.Blue); err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: pod deleted by hand -> new pod ready and in the stable Service: %s", time.Since(t0).Round(time.Millisecond))
	if after.InstanceID == before.InstanceID || after.ModelVersion != "v1" || after.ID == before.ID {
		t.Errorf("after heal: %+v, want a new v1 instance (was %s, %s)", after, before.ID, before.InstanceID)
	}
}

// clusterURL is the stable Service's ClusterIP as the host reaches it
// (the node routes it), once it answers.
func (e *env) clusterURL(t *testing.T) string {
	t.Helper()
	svc, err := e.c.Client.CoreV1().Services(e.ns).Get(context.Background(), e.k.Router().Service(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(ServicePort))
	waitFor(t, "the ClusterIP answers", time.Minute, func(ctx context.Context) (bool, string) {
		// A SYN sent before kube-proxy wrote the Service's rules leaves an
		// un-NATed conntrack entry its retransmits keep matching: each try
		// gets a new connection, from a new port, after 2 s.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/ready", nil)
		resp, err := fresh().Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return url
}

// fresh is a client with a new connection per request, as a load
// balancer's clients have: a kept-alive connection would pin one pod.
func fresh() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
}

// load is clients calling a URL in a loop, counting answers by version.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	served map[string]int
	fails  []string
	last   string // the version of the last answer
}

func startLoad(t *testing.T, url string, workers int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, served: map[string]int{}}
	body := `{"messages":[{"role":"user","content":"Say hello"}],"max_tokens":4}`
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := fresh().Do(req)
				l.record(ctx, resp, err)
			}
		}()
	}
	t.Cleanup(cancel)
	return l
}

func (l *load) record(ctx context.Context, resp *http.Response, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case ctx.Err() != nil:
	case err != nil:
		l.fails = append(l.fails, err.Error())
	default:
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		v := resp.Header.Get("X-Model-Version")
		if resp.StatusCode != http.StatusOK || rerr != nil {
			l.fails = append(l.fails, fmt.Sprintf("%s from %s: %s %v", resp.Status, v, b, rerr))
			return
		}
		l.served[v]++
		l.last = v
	}
}

// waitServed waits until the last answer came from version and n more
// answers came from it since the call.
func (l *load) waitServed(t *testing.T, version string, n int) {
	t.Helper()
	l.mu.Lock()
	from := l.served[version]
	l.mu.Unlock()
	waitFor(t, "answers from "+version, time.Minute, func(context.Context) (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.last == version && l.served[version]-from >= n, fmt.Sprintf("served %v", l.served)
	})
}

// stop ends the load and fails the test on any failed request.
func (l *load) stop(t *testing.T) {
	t.Helper()
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("load: answers by version %v, %d failed", l.served, len(l.fails))
	if len(l.fails) > 0 {
		t.Errorf("%d requests failed, first: %s", len(l.fails), l.fails[0])
	}
}

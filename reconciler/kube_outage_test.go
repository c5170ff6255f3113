package reconciler

import (
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
)

// TestKubeAPIUnreachableRetried: the reconciler reaches the API server
// through a TCP relay the test cuts while v2's standby is in its ready
// gate. The gate times out, the failure is transient
// (kubernetes_unavailable, retried with backoff), never a quarantine;
// while the API server stays unreachable the reconciler acts on nothing;
// once it is back, the retry deploys v2, adopting the standby. Clients,
// which do not go through the relay, never see a failure.
func TestKubeAPIUnreachableRetried(t *testing.T) {
	e := newKubeEnv(t)
	relay := newRelay(t, e.as.Host)
	cfg := rest.CopyConfig(e.as)
	cfg.Host = "https://" + relay.addr
	cfg.TLSClientConfig.ServerName = hostOf(t, e.as.Host) // the serving certificate names the API server's address
	e.kube = []kubernetes.Option{kubernetes.WithRESTConfig(cfg), kubernetes.WithPreStop(2 * time.Second), kubernetes.WithCallTimeout(3 * time.Second)}
	spec := func(version string) string {
		return desiredSpec{Version: version, Path: "tiny.gguf", ReadyTimeout: "15s", DrainTimeout: "20s", MaxLatency: "30s",
			Extra: e.kubeExtra()}.yaml()
	}
	e.commit(spec("v1"), "v1")
	e.start()
	e.waitSynced("v1", 4*time.Minute)
	loop := e.clients(2)
	loop.waitOK(t, 10)
	e.r.events.setSink(func(ev Event) {
		if ev.Step == StepReady && ev.Phase == PhaseStart {
			relay.cut()
		}
	})
	e.commit(spec("v2"), "v2")
	failed := e.waitDeploys(2, 3*time.Minute)[1] // v1, then the failed attempt
	t.Logf("attempt 1: %s at %s: %s", failed.Outcome, failed.FailedStep, failed.Reason)
	if failed.Retry == nil || failed.Retry.Kind != TransientKubernetes {
		t.Fatalf("attempt 1: retry %+v; want a retry of kind %s", failed.Retry, TransientKubernetes)
	}
	e.waitPasses(10) // blind passes: nothing may be decided
	if st := e.r.Status(); st.Quarantine != nil || st.ActiveVersion != "v1" {
		t.Errorf("while unreachable: quarantine %+v, active %s; want none, v1", st.Quarantine, st.ActiveVersion)
	}
	if recs, _ := ReadHistory(e.stateDir, 0); len(recs) != 2 {
		t.Errorf("%d deploys while the API server was unreachable, want the one failed attempt", len(recs)-1)
	}
	e.r.events.setSink(nil)
	relay.restore()
	st := e.waitSynced("v2", 3*time.Minute)
	loop.waitOK(t, 10)
	loop.check(t)
	recs, _ := ReadHistory(e.stateDir, 0)
	if last := recs[len(recs)-1]; last.Outcome != OutcomeSucceeded || st.ActiveColor != "green" || st.Quarantine != nil {
		t.Errorf("after the API server came back: %s, active %s, quarantine %+v; want v2 succeeded on green", last.Outcome, st.ActiveColor, st.Quarantine)
	}
}

// kubeExtra is desired.yaml's runtime kubernetes lines.
func (e *kubeEnv) kubeExtra() string {
	return "  runtime: kubernetes\n  image: " + e.image + "\n  kubernetes:\n    namespace: " + e.ns +
		"\n    models: {hostPath: " + e.modelsDir + "}\n"
}

func hostOf(t *testing.T, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname()
}

// relay forwards TCP connections to an upstream until cut: then it
// closes every connection and refuses new ones, as an API server that
// went away, until restored on the same address.
type relay struct {
	t        *testing.T
	addr     string
	upstream string
	mu       sync.Mutex
	ln       net.Listener
	conns    []net.Conn
}

func newRelay(t *testing.T, upstreamURL string) *relay {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{t: t, upstream: u.Host}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.cut)
	return r
}

func (r *relay) serve(ln net.Listener) {
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.pipe(c)
		}
	}()
}

func (r *relay) pipe(c net.Conn) {
	up, err := net.Dial("tcp", r.upstream)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	r.conns = append(r.conns, c, up)
	r.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// cut closes the listener and every relayed connection.
func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// restore listens again on the same address.
func (r *relay) restore() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.serve(ln)
}

// TestKubeUnschedulableRetried: v2 asks for more CPU than the node has, so
// the scheduler cannot place its standby pod. The ready gate waits for it
// until readyTimeout, then fails as the environment's fault (capacity:
// retried with backoff, the scheduler's message in the reason), never a
// quarantine; v1 serves throughout, and a v2 that fits is deployed.
func TestKubeUnschedulableRetried(t *testing.T) {
	e := newKubeEnv(t)
	e.serveV1()
	loop := e.clients(2)
	loop.waitOK(t, 10)
	e.commit(desiredSpec{Version: "v2", Path: "tiny.gguf", ReadyTimeout: "10s", DrainTimeout: "20s", MaxLatency: "30s",
		CPUs: "64", Extra: e.kubeExtra()}.yaml(), "v2 asks 64 CPUs")
	failed := e.waitDeploys(2, 3*time.Minute)[1] // v1, then the failed attempt
	t.Logf("attempt 1: %s at %s: %s", failed.Outcome, failed.FailedStep, failed.Reason)
	if failed.Retry == nil || failed.Retry.Kind != TransientCapacity || failed.FailedStep != StepReady ||
		!strings.Contains(failed.Reason, "cannot be scheduled") {
		t.Fatalf("attempt 1: %s at %s, retry %+v; want a capacity retry at ready naming the scheduler's reason", failed.Outcome, failed.FailedStep, failed.Retry)
	}
	if st := e.r.Status(); st.Quarantine != nil || st.ActiveVersion != "v1" {
		t.Errorf("after the failed attempt: quarantine %+v, active %s; want none, v1", st.Quarantine, st.ActiveVersion)
	}
	e.commit(e.spec("v2", "tiny.gguf"), "v2 that fits")
	st := e.waitSynced("v2", 4*time.Minute)
	loop.waitOK(t, 10)
	loop.check(t)
	if st.Quarantine != nil {
		t.Errorf("quarantine %+v after v2 was deployed", st.Quarantine)
	}
}

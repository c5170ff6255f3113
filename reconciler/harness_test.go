package reconciler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
	"github.com/zero-downtime-ml/zdml/spec"
)

// The end-to-end tests below run the real thing: the model-server binary
// on the small generated models, Debian's nginx, a git repository made
// with the git CLI, and the reconciler in-process (or as the zdml binary,
// in cmd/zdml). Each test has its own state directory and free ports, so
// they run in parallel.

// desiredSpec is the knobs tests turn in desired.yaml.
type desiredSpec struct {
	Version, Path, SHA256, Strategy, AutoPromote string
	ReadyTimeout, DrainTimeout, MaxLatency       string
	MaxTokens                                    int
	CPUs                                         string // resources.cpus, when set
	Extra                                        string // raw YAML appended under spec:
	Canary                                       string // raw YAML appended under spec.strategy: (steps, analysis)
}

func (d desiredSpec) yaml() string {
	def := func(s, v string) string {
		if s == "" {
			return v
		}
		return s
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: zdml/v1\nkind: ModelDeployment\nmetadata:\n  name: chat\nspec:\n")
	fmt.Fprintf(&b, "  model:\n    name: tiny\n    version: %s\n    path: %s\n", def(d.Version, "v1"), def(d.Path, "tiny.gguf"))
	if d.SHA256 != "" {
		fmt.Fprintf(&b, "    sha256: %s\n", d.SHA256)
	}
	fmt.Fprintf(&b, "  strategy:\n    type: %s\n    readyTimeout: %s\n    drainTimeout: %s\n",
		def(d.Strategy, "bluegreen"), def(d.ReadyTimeout, "30s"), def(d.DrainTimeout, "10s"))
	if d.AutoPromote != "" {
		fmt.Fprintf(&b, "    autoPromote: %s\n", d.AutoPromote)
	}
	b.WriteString(d.Canary)
	mt := d.MaxTokens
	if mt == 0 {
		mt = 4
	}
	fmt.Fprintf(&b, "  warmup:\n    prompts: [\"Say hello\"]\n    maxLatency: %s\n    maxTokens: %d\n", def(d.MaxLatency, "10s"), mt)
	fmt.Fprintf(&b, "  resources:\n    memory: 256Mi\n    threads: 1\n    parallel: 2\n    ctx: 512\n")
	if d.CPUs != "" {
		fmt.Fprintf(&b, "    cpus: %s\n", d.CPUs)
	}
	b.WriteString(d.Extra)
	return b.String()
}

// env is one test's world: a git repository holding desired.yaml, a state
// directory, free ports, and a reconciler running in-process.
type env struct {
	t         testing.TB
	dir       string
	repo      string
	stateDir  string
	modelsDir string
	public    string
	admin     string
	colors    map[spec.Color]string
	runner    nginx.Runner
	reg       *prometheus.Registry
	resync    time.Duration
	kube      []kubernetes.Option // runtime kubernetes's driver options (kubeEnv)

	r      *Reconciler
	cancel context.CancelFunc
	done   chan error
}

func newEnv(t testing.TB) *env {
	t.Helper()
	testenv.LookPath(t, "nginx", "nginx")
	dir := t.TempDir()
	e := &env{t: t, dir: dir, repo: filepath.Join(dir, "repo"), stateDir: filepath.Join(dir, "state"),
		modelsDir: testenv.ModelsDir(t), public: testenv.FreeAddr(t), admin: testenv.FreeAddr(t),
		colors: map[spec.Color]string{spec.Blue: testenv.FreeAddr(t), spec.Green: testenv.FreeAddr(t)}, resync: 200 * time.Millisecond}
	testenv.Binary(t, "modelserver")
	testenv.GitRepo(t, e.repo)
	local, err := nginx.NewLocal(filepath.Join(e.stateDir, "nginx"))
	if err != nil {
		t.Fatal(err)
	}
	e.runner = local
	t.Cleanup(e.cleanup)
	return e
}

func (e *env) git(args ...string) string {
	e.t.Helper()
	return testenv.Git(e.t, e.repo, args...)
}

// commit writes desired.yaml and commits it, returning the commit sha.
func (e *env) commit(text, msg string) string {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.repo, "desired.yaml"), []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.git("add", "desired.yaml")
	e.git("commit", "-q", "--allow-empty", "-m", msg)
	return e.git("rev-parse", "HEAD")
}

func (e *env) config() Config {
	src, err := NewGitSource(e.repo, "main", "desired.yaml", time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	return Config{StateDir: e.stateDir, ModelsDir: e.modelsDir, Source: src, PublicAddr: e.public, AdminAddr: e.admin,
		ColorAddrs: e.colors, Modelserver: testenv.Binary(e.t, "modelserver"), NginxRunner: e.runner,
		Resync: e.resync, StopTimeout: 10 * time.Second, Log: testLogger(e.t), Registry: e.reg, Kubernetes: e.kube}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("ZDML_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// start runs the reconciler daemon loop in-process.
func (e *env) start() *Reconciler {
	e.t.Helper()
	e.reg = prometheus.NewRegistry()
	r, err := New(e.config())
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.r, e.cancel, e.done = r, cancel, make(chan error, 1)
	go func() { e.done <- r.Run(ctx) }()
	return r
}

// stop stops the daemon loop (colors and nginx keep running).
func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		e.t.Error("reconciler did not stop")
	}
	e.r.Close()
	e.cancel = nil
}

// cleanup stops everything the test started: the reconciler, both colors
// (by their pid files) and nginx.
func (e *env) cleanup() {
	e.stop()
	for _, c := range spec.Colors {
		b, err := os.ReadFile(filepath.Join(e.stateDir, "colors", string(c), "pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, pid := range e.strays() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.runner.Stop(ctx)
}

// strays lists model servers of this state directory still alive.
func (e *env) strays() []int {
	var out []int
	all, _ := procfs.PIDs()
	for _, pid := range all {
		if strings.Contains(strings.Join(procfs.Cmdline(pid), " "), "--db "+e.stateDir+"/") && procfs.Alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// waitFor polls cond until it holds or timeout passes.
func (e *env) waitFor(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s; status: %+v", timeout, what, e.r.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitPasses waits until the daemon loop has finished n more reconcile
// passes: what a test that checks that something does NOT happen waits
// for (a retry, a redeploy, a heal), instead of a guessed sleep.
func (e *env) waitPasses(n int64) {
	e.t.Helper()
	target := e.r.passes.Load() + n
	e.waitFor(fmt.Sprintf("%d reconcile passes", n), time.Minute, func() bool { return e.r.passes.Load() >= target })
}

// waitSynced waits until the daemon serves version and is synced.
func (e *env) waitSynced(version string, timeout time.Duration) StatusReport {
	e.t.Helper()
	var st StatusReport
	e.waitFor("synced "+version, timeout, func() bool {
		st = e.r.Status()
		return st.SyncState == SyncSynced && st.ActiveVersion == version && st.Step == "" && st.Nginx.Active == st.ActiveColor
	})
	return st
}

// serveV1 commits desired.yaml at v1, starts the reconciler and waits
// until v1 serves: where most end-to-end tests begin.
func (e *env) serveV1() StatusReport {
	e.t.Helper()
	e.commit(desiredSpec{Version: "v1"}.yaml(), "v1")
	e.start()
	return e.waitSynced("v1", time.Minute)
}

// waitDeploys waits until history holds n records and returns them.
func (e *env) waitDeploys(n int, timeout time.Duration) []DeployRecord {
	e.t.Helper()
	var recs []DeployRecord
	e.waitFor(fmt.Sprintf("%d deploys in history", n), timeout, func() bool {
		recs, _ = ReadHistory(e.stateDir, 0)
		return len(recs) >= n && e.r.Status().Step == ""
	})
	return recs
}

func (e *env) events() []Event {
	e.t.Helper()
	f, err := os.Open(filepath.Join(e.stateDir, EventsFile))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	evs, err := ReadEvents(f)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// clientLoop sends chat requests through nginx from several workers until
// stopped, counting failures: a failure is anything but a 200.
type clientLoop struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	versions   map[string]int
	errs       []string
	stopped    chan struct{}
	wg         sync.WaitGroup
}

func startClients(t testing.TB, public string, workers int) *clientLoop {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: workers}}
	return startClientsAt(t, client, "http://"+public+"/chat", workers)
}

// startClientsAt is startClients for any chat URL, with client (runtime
// kubernetes: the stable Service through the API server's proxy).
func startClientsAt(t testing.TB, client *http.Client, url string, workers int) *clientLoop {
	l := &clientLoop{versions: map[string]int{}, stopped: make(chan struct{})}
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stopped:
					return
				default:
				}
				l.once(client, url)
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *clientLoop) once(client *http.Client, url string) {
	resp, err := client.Post(url, "application/json", strings.NewReader(`{"message":"hello there","max_tokens":6}`))
	if err != nil {
		l.fail(err.Error())
		return
	}
	_, rerr := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || rerr != nil {
		l.fail(fmt.Sprintf("%s %v", resp.Status, rerr))
		return
	}
	l.ok.Add(1)
	l.mu.Lock()
	l.versions[resp.Header.Get("X-Model-Version")]++
	l.mu.Unlock()
}

func (l *clientLoop) fail(msg string) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, time.Now().Format("15:04:05.000")+" "+msg)
	}
	l.mu.Unlock()
}

func (l *clientLoop) stop() {
	select {
	case <-l.stopped:
	default:
		close(l.stopped)
	}
	l.wg.Wait()
}

// waitOK waits until n more requests have succeeded: the clients are
// really running (or kept running through what the test did).
func (l *clientLoop) waitOK(t testing.TB, n int64) {
	t.Helper()
	target := l.ok.Load() + n
	deadline := time.Now().Add(time.Minute)
	for l.ok.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests succeeded within a minute (%d failed)", l.ok.Load(), target, l.failed.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// check stops the loop and fails the test on any failed request.
func (l *clientLoop) check(t testing.TB) {
	t.Helper()
	l.stop()
	t.Logf("client loop: %d ok, %d failed, versions %v", l.ok.Load(), l.failed.Load(), l.versions)
	if l.failed.Load() > 0 {
		t.Errorf("%d requests failed through nginx, first: %v", l.failed.Load(), l.errs)
	}
	if l.ok.Load() == 0 {
		t.Error("no request succeeded")
	}
}

// publicVersion asks nginx's public route who answers.
func publicVersion(t testing.TB, public string) (string, string) {
	t.Helper()
	resp, err := http.Get("http://" + public + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("X-Model-Color"), resp.Header.Get("X-Model-Version")
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

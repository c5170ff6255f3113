package monitoring

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// stack is a real process-runtime stack on free loopback ports: a git
// repository holding desired.yaml and `bin/zdml reconcile` watching it,
// which runs the colors and nginx. Everything stops in cleanup.
type stack struct {
	t                               *testing.T
	repo, state                     string
	public, admin, api, blue, green string
}

// desired is a desired.yaml for the tiny model at version.
func desired(version string) string { return desiredWarmup(version, "30s") }

// desiredWarmup sets the warm-up's latency gate too: 10ms fails it, so
// the deploy rolls back.
func desiredWarmup(version, maxLatency string) string {
	return fmt.Sprintf(`apiVersion: zdml/v1
kind: ModelDeployment
metadata:
  name: chat
spec:
  model:
    name: tiny
    version: %s
    path: tiny.gguf
  strategy:
    type: bluegreen
    readyTimeout: 60s
    drainTimeout: 10s
  warmup:
    # Long enough (seconds) that 1 s scrapes see the deploy progressing.
    prompts: ["Say hello", "Tell a story", "Count to ten", "Name a color", "Sing", "Dance"]
    maxLatency: %s
    maxTokens: 400
  resources:
    memory: 256Mi
    threads: 1
    parallel: 2
    ctx: 1024
`, version, maxLatency)
}

func newStack(t *testing.T) *stack {
	t.Helper()
	testenv.LookPath(t, "nginx", "nginx")
	dir := t.TempDir()
	s := &stack{t: t, repo: filepath.Join(dir, "repo"), state: filepath.Join(dir, "state"),
		public: testenv.FreeAddr(t), admin: testenv.FreeAddr(t), api: testenv.FreeAddr(t), blue: testenv.FreeAddr(t), green: testenv.FreeAddr(t)}
	testenv.GitRepo(t, s.repo)
	s.write(desired("v1"))
	s.git("add", "desired.yaml")
	s.git("commit", "-q", "-m", "v1")
	return s
}

func (s *stack) git(args ...string) string {
	s.t.Helper()
	return testenv.Git(s.t, s.repo, args...)
}

// write replaces desired.yaml in the work tree, uncommitted.
func (s *stack) write(text string) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.repo, "desired.yaml"), []byte(text), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// start runs `zdml reconcile` in GitOps mode on the repository.
func (s *stack) start() {
	s.t.Helper()
	logf, err := os.Create(filepath.Join(filepath.Dir(s.state), "reconcile.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(testenv.Binary(s.t, "zdml"), "reconcile", "--repo", s.repo, "--branch", "main",
		"--file", "desired.yaml", "--state-dir", s.state, "--models-dir", testenv.ModelsDir(s.t),
		"--public-addr", s.public, "--admin-addr", s.admin, "--api-addr", s.api,
		"--blue-addr", s.blue, "--green-addr", s.green, "--modelserver", testenv.Binary(s.t, "modelserver"),
		"--poll", "1s")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	s.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		s.stopLeftovers()
	})
}

// stopLeftovers stops what the daemon leaves running on purpose (colors
// and nginx keep serving without it): by their pid files.
func (s *stack) stopLeftovers() {
	for _, p := range []string{"colors/blue/pid", "colors/green/pid", "nginx/nginx.pid"} {
		b, err := os.ReadFile(filepath.Join(s.state, p))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// waitStatus polls GET /status until cond holds.
func (s *stack) waitStatus(t *testing.T, what string, timeout time.Duration, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last Status
	var err error
	for time.Now().Before(deadline) {
		last, err = FetchStatus(t.Context(), s.api)
		if err == nil && cond(last) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(filepath.Dir(s.state), "reconcile.log"))
	t.Fatalf("no %s within %s: last status %+v (%v)\nreconcile.log tail:\n%s", what, timeout, last, err, tail(log, 3000))
	return last
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

package testenv

import (
	"bytes"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ModelServer is a real bin/modelserver process started by a test.
type ModelServer struct {
	Addr string // 127.0.0.1:port
	URL  string // http://Addr
	Cmd  *exec.Cmd

	mu  sync.Mutex
	log bytes.Buffer
}

// StartModelServer runs bin/modelserver on a free port with model (a file
// of the models directory, e.g. "demo-v1.gguf") and args, waits until
// /ready answers 200, and stops it (SIGTERM, then SIGKILL after 20 s) when
// the test ends.
func StartModelServer(t testing.TB, model string, args ...string) *ModelServer {
	t.Helper()
	return StartModelServerNice(t, 0, model, args...)
}

// StartModelServerNice is StartModelServer at a nice level, as the
// reconciler starts a standby (through nice(1), so every thread has it).
func StartModelServerNice(t testing.TB, nice int, model string, args ...string) *ModelServer {
	t.Helper()
	s := &ModelServer{Addr: FreeAddr(t)}
	s.URL = "http://" + s.Addr
	full := append([]string{"--model", Model(t, model), "--addr", s.Addr, "--db", filepath.Join(t.TempDir(), "chat.db"),
		"--threads", "1", "--log-level", "warn"}, args...)
	s.Cmd = exec.Command(Binary(t, "modelserver"), full...)
	if nice != 0 {
		s.Cmd = exec.Command("nice", append([]string{"-n", strconv.Itoa(nice), Binary(t, "modelserver")}, full...)...)
	}
	s.Cmd.Env = []string{"PATH=/usr/bin:/bin"}
	s.Cmd.Stderr = s
	if err := s.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.Cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = s.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = s.Cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-done:
			t.Fatalf("modelserver %s exited before it was ready:\n%s", model, s.Log())
		default:
		}
		if resp, err := http.Get(s.URL + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("modelserver %s not ready after 120 s:\n%s", model, s.Log())
		}
	}
}

// Write keeps the server's stderr.
func (s *ModelServer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Write(p)
}

// Log is what the server wrote to stderr so far.
func (s *ModelServer) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

package modelserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/modelserver"
)

// server is a real modelserver process started by a test.
type server struct {
	t    testing.TB
	cmd  *exec.Cmd
	URL  string
	DB   string
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, valid after done

	mu     sync.Mutex
	stderr bytes.Buffer
}

// startServer runs bin/modelserver on a free port with args (a --model is
// required among them) and waits until it listens. The process is stopped in
// t.Cleanup.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	bin := testenv.Binary(t, "modelserver")
	dir := t.TempDir()
	s := &server{t: t, DB: filepath.Join(dir, "chat.db"), done: make(chan struct{})}
	full := append([]string{"--addr", "127.0.0.1:0", "--db", s.DB, "--threads", "1", "--log-level", "debug"}, args...)
	return s.start(bin, full)
}

// readyServer is startServer, then waits until the server is ready.
func readyServer(t testing.TB, args ...string) *server {
	t.Helper()
	s := startServer(t, args...)
	s.waitReady(t)
	return s
}

func (s *server) start(bin string, args []string) *server {
	t := s.t
	t.Helper()
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = []string{"PATH=/usr/bin:/bin"} // no stray ZDML_* from the caller
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go s.readLog(pipe, addr)
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		t.Fatalf("modelserver exited before listening: %v\n%s", s.err, s.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("modelserver did not listen within 30s\n%s", s.Log())
	}
	return s
}

// readLog keeps the JSON log and reports the address from the "serving" line.
func (s *server) readLog(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		s.mu.Lock()
		s.stderr.Write(line)
		s.stderr.WriteByte('\n')
		s.mu.Unlock()
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "serving" {
			addr <- rec.Addr
		}
	}
}

// Log returns what the server logged so far.
func (s *server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// stop sends SIGTERM and waits, killing the process if it hangs.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		s.t.Errorf("modelserver ignored SIGTERM for 20s\n%s", s.Log())
	}
}

// waitReady polls /ready until 200.
func (s *server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/ready")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not ready after 60s: %s\n%s", last, s.Log())
}

// waitNotReady polls /ready until it answers 503 with a reason containing want.
func (s *server) waitNotReady(t testing.TB, want string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var r struct {
			Ready  bool
			Reason string
		}
		code := s.getJSON(t, "/ready", &r)
		last = fmt.Sprintf("%d %+v", code, r)
		if code == http.StatusServiceUnavailable && strings.Contains(r.Reason, want) {
			return r.Reason
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("want /ready 503 with reason containing %q, last got %s\n%s", want, last, s.Log())
	return ""
}

// deep returns /health/deep.
func (s *server) deep(t testing.TB) deepHealth {
	t.Helper()
	var d deepHealth
	if code := s.getJSON(t, "/health/deep", &d); code != http.StatusOK {
		t.Fatalf("/health/deep: %d", code)
	}
	return d
}

type deepHealth struct {
	InstanceID string `json:"instance_id"`
	Color      string `json:"color"`
	Model      struct {
		Name, Version, File, SHA256, Architecture, Quantization, State, Error string
		Parameters                                                            uint64
	} `json:"model"`
	Host        string  `json:"host"`
	ContainerID *string `json:"container_id"`
	PID         int     `json:"pid"`
	RSS         int64   `json:"rss_bytes"`
	PSS         int64   `json:"pss_bytes"`
	Uptime      float64 `json:"uptime_seconds"`
	InFlight    int     `json:"in_flight"`
	QueueDepth  int     `json:"queue_depth"`
	Running     int     `json:"running"`
	Ready       bool    `json:"ready"`
	ReadyReason string  `json:"ready_reason"`
	Build       string  `json:"build_version"`
	StartedAt   string  `json:"started_at"`
}

// waitDeep polls /health/deep until cond holds.
func (s *server) waitDeep(t testing.TB, what string, cond func(deepHealth) bool) deepHealth {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := s.deep(t)
		if cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: last /health/deep %+v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) getJSON(t testing.TB, path string, v any) int {
	t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	checkHeaders(t, resp)
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decoding: %v", path, err)
	}
	return resp.StatusCode
}

// post sends body (a string or a value to marshal) and returns the status
// and the raw answer; it checks the identity headers.
func (s *server) post(t testing.TB, ctx context.Context, path string, body any) (int, []byte, http.Header) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	checkHeaders(t, resp)
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header
}

// checkHeaders asserts the identity headers every response must carry.
func checkHeaders(t testing.TB, resp *http.Response) {
	t.Helper()
	for _, h := range []string{modelserver.HeaderColor, modelserver.HeaderVersion, modelserver.HeaderRequestID} {
		if resp.Header.Get(h) == "" {
			t.Errorf("%s %s: %d without %s header", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, h)
		}
	}
}

// chatReply is the /chat answer.
type chatReply struct {
	Response        string `json:"response"`
	Model           string `json:"model"`
	Version         string `json:"version"`
	Color           string `json:"color"`
	UserID          string `json:"user_id"`
	HistoryMessages int    `json:"history_messages"`
	FinishReason    string `json:"finish_reason"`
	Usage           struct {
		PromptTokens     int `json:"prompt_tokens"`
		CachedTokens     int `json:"cached_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
	Timings struct {
		TimeToFirstToken float64 `json:"time_to_first_token_ms"`
		InferenceMS      float64 `json:"inference_ms"`
		TokensPerSecond  float64 `json:"tokens_per_second"`
	} `json:"timings"`
}

func (s *server) chat(t testing.TB, path, message string, maxTokens int) chatReply {
	t.Helper()
	code, body, _ := s.post(t, context.Background(), path, map[string]any{"message": message, "max_tokens": maxTokens})
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, code, body)
	}
	var r chatReply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("POST %s: %v: %s", path, err, body)
	}
	return r
}

package modelserver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// longChat starts a /chat that generates for a long time on demo-v1 and
// returns a cancel and a channel with its status code.
func longChat(t *testing.T, s *server, maxTokens int) (context.CancelFunc, <-chan int) {
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		c, _, _ := s.post(t, ctx, "/chat", map[string]any{"message": "Write a long story.", "max_tokens": maxTokens})
		code <- c
	}()
	return cancel, code
}

func TestQueueFullGets503WithRetryAfter(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "demo-v1.gguf"), "--parallel", "1", "--queue", "1", "--ctx", "1024", "--max-tokens-limit", "900")
	cancelA, _ := longChat(t, s, 900)
	defer cancelA()
	s.waitDeep(t, "one running", func(d deepHealth) bool { return d.Running == 1 })
	cancelB, _ := longChat(t, s, 900)
	defer cancelB()
	s.waitDeep(t, "one queued", func(d deepHealth) bool { return d.QueueDepth == 1 && d.InFlight == 2 })

	code, body, h := s.post(t, context.Background(), "/chat", map[string]any{"message": "and me?", "max_tokens": 5})
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(string(body), "queue is full") {
		t.Fatalf("got %d Retry-After %q %s, want 503 with Retry-After", code, h.Get("Retry-After"), body)
	}
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = io.Copy(&sb, resp.Body)
	if !strings.Contains(sb.String(), "zdml_queue_rejected_total 1") {
		t.Errorf("zdml_queue_rejected_total is not 1")
	}
}

func TestClientDisconnectFreesSlot(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "demo-v1.gguf"), "--parallel", "1", "--queue", "0", "--ctx", "1024", "--max-tokens-limit", "900")
	cancel, code := longChat(t, s, 900)
	s.waitDeep(t, "the slot taken", func(d deepHealth) bool { return d.Running == 1 })
	start := time.Now()
	cancel()
	<-code
	s.waitDeep(t, "the slot freed", func(d deepHealth) bool { return d.Running == 0 && d.InFlight == 0 })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("slot freed %v after the disconnect; want at the next decode step", d)
	}
	// With no queue, a taken slot would mean 503: the next request must run.
	if r := s.chat(t, "/chat", "my turn", 3); r.Usage.CompletionTokens == 0 {
		t.Errorf("got %+v", r)
	}
}

func TestSIGTERMDrainsInFlight(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "demo-v1.gguf"), "--parallel", "2", "--ctx", "512", "--shutdown-timeout", "60s")
	const n = 3 // two running, one queued
	var wg sync.WaitGroup
	results := make([]chatReply, n)
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body, _ := s.post(t, context.Background(), "/chat", map[string]any{"message": "Tell me everything.", "max_tokens": 60})
			codes[i] = code
			_ = json.Unmarshal(body, &results[i])
		}()
	}
	s.waitDeep(t, "three in flight", func(d deepHealth) bool { return d.InFlight == n })
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	reason := s.waitNotReady(t, "draining")
	code, body, _ := s.post(t, context.Background(), "/chat", map[string]any{"message": "new", "max_tokens": 5})
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "draining") {
		t.Errorf("new request while draining: got %d %s, want 503 draining", code, body)
	}
	wg.Wait()
	for i := range n {
		if codes[i] != http.StatusOK || results[i].Usage.CompletionTokens == 0 {
			t.Errorf("in-flight request %d: got %d %+v, want a complete 200", i, codes[i], results[i])
		}
	}
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("did not exit after draining")
	}
	var exit *exec.ExitError
	if errors.As(s.err, &exit) || s.err != nil {
		t.Errorf("exit: %v, want 0\n%s", s.err, s.Log())
	}
	t.Logf("ready reason while draining: %q", reason)
}

func TestHistoryPersistsAndNeverMixes(t *testing.T) {
	model := testenv.Model(t, "tiny.gguf")
	s := readyServer(t, "--model", model)
	s.chat(t, "/chat/alice", "alice says the password is swordfish", 5)
	s.chat(t, "/chat/bob", "bob likes turnips", 5)
	s.stop()
	if s.err != nil {
		t.Fatalf("first server exit: %v", s.err)
	}

	// Same database, new process.
	s2 := &server{t: t, DB: s.DB, done: make(chan struct{})}
	s2.start(s.cmd.Path, []string{"--addr", "127.0.0.1:0", "--db", s.DB, "--threads", "1", "--model", model})
	s2.waitReady(t)
	a := s2.chat(t, "/chat/alice", "what did I say?", 5)
	b := s2.chat(t, "/chat/bob", "what do I like?", 5)
	c := s2.chat(t, "/chat/carol", "who am I?", 5)
	if a.HistoryMessages != 2 || b.HistoryMessages != 2 || c.HistoryMessages != 0 {
		t.Errorf("history after restart: alice %d, bob %d, carol %d; want 2, 2, 0", a.HistoryMessages, b.HistoryMessages, c.HistoryMessages)
	}
	s2.stop()

	db, err := sql.Open("sqlite", "file:"+s.DB+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q (%v), want wal", mode, err)
	}
	for user, want := range map[string][]string{
		"alice": {"alice says the password is swordfish", "what did I say?"},
		"bob":   {"bob likes turnips", "what do I like?"},
		"carol": {"who am I?"},
	} {
		rows, err := db.Query("SELECT content FROM messages WHERE user_id = ? AND role = 'user' ORDER BY id", user)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var c string
			_ = rows.Scan(&c)
			got = append(got, c)
		}
		rows.Close()
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s's stored messages: got %q, want %q", user, got, want)
		}
	}
}

// TestTwoServersShareModelPages runs blue and green on one demo-v1 file: the
// kernel maps its pages once, so the sum of PSS is well below the sum of RSS.
func TestTwoServersShareModelPages(t *testing.T) {
	model := testenv.Model(t, "demo-v1.gguf")
	blue := startServer(t, "--model", model, "--color", "blue", "--ctx", "256", "--parallel", "1")
	green := startServer(t, "--model", model, "--color", "green", "--ctx", "256", "--parallel", "1")
	blue.waitReady(t)
	green.waitReady(t)
	blue.chat(t, "/chat", "warm up", 3)
	green.chat(t, "/chat", "warm up", 3)
	b, g := blue.deep(t), green.deep(t)
	rss, pss := b.RSS+g.RSS, b.PSS+g.PSS
	t.Logf("blue rss %d pss %d, green rss %d pss %d", b.RSS, b.PSS, g.RSS, g.PSS)
	// The file is ~117 MB; shared, about half of it leaves each PSS.
	if pss > rss-80<<20 {
		t.Errorf("sum of PSS %d MiB not clearly below sum of RSS %d MiB: model pages are not shared", pss>>20, rss>>20)
	}
}

func TestGeneratedModelsLoad(t *testing.T) {
	for _, tt := range []struct {
		file, version, quant string
	}{
		{"tiny.gguf", "v1", "F32"},
		{"demo-v1.gguf", "v1", "Q8_0"},
		{"demo-v2.gguf", "v2", "Q8_0"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			s := readyServer(t, "--model", testenv.Model(t, tt.file), "--ctx", "256", "--parallel", "1")
			checkJSONLog(t, s.Log())
			d := s.deep(t)
			if d.Model.Version != tt.version || d.Model.Quantization != tt.quant || d.Model.State != "loaded" {
				t.Errorf("got version %q quantization %q state %q, want %s %s loaded", d.Model.Version, d.Model.Quantization, d.Model.State, tt.version, tt.quant)
			}
			if r := s.chat(t, "/chat", "hello", 4); r.Usage.CompletionTokens == 0 || r.Version != tt.version {
				t.Errorf("chat: %+v", r)
			}
		})
	}
}

// TestBrokenModelsAreNotReady: the process stays up (liveness 200) and says
// why it is not ready, in /ready and /health/deep.
func TestBrokenModelsAreNotReady(t *testing.T) {
	for _, tt := range []struct {
		name, file, reason string
	}{
		{"truncated", "broken-truncated.gguf", "truncated"},
		{"degenerate", "broken-degenerate.gguf", "replied nothing"},
		{"missing file", "", "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := "/nonexistent/model.gguf"
			if tt.file != "" {
				path = testenv.Model(t, tt.file)
			}
			s := startServer(t, "--model", path)
			s.waitNotReady(t, tt.reason)
			var live map[string]string
			if code := s.getJSON(t, "/healthz", &live); code != http.StatusOK {
				t.Errorf("/healthz %d, want 200", code)
			}
			d := s.deep(t)
			if d.Ready || !strings.Contains(d.ReadyReason, tt.reason) {
				t.Errorf("/health/deep ready %v reason %q, want not ready with %q", d.Ready, d.ReadyReason, tt.reason)
			}
			code, body, _ := s.post(t, context.Background(), "/chat", map[string]any{"message": "hi"})
			if code != http.StatusServiceUnavailable && tt.name != "degenerate" {
				t.Errorf("chat on a broken model: %d %s, want 503", code, body)
			}
		})
	}
}

// checkJSONLog asserts that every line the server wrote is a JSON record
// and that llama.cpp's own output was routed into them.
func checkJSONLog(t *testing.T, log string) {
	t.Helper()
	routed := false
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		routed = routed || rec["component"] == "llama.cpp"
	}
	if !routed {
		t.Errorf("no llama.cpp line in the log (run at debug level): routing lost?")
	}
}

func TestMemoryLimitAndGivenSHA256(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	s := startServer(t, "--model", testenv.Model(t, "tiny.gguf"), "--memory-limit", "1Mi", "--model-sha256", sum)
	reason := s.waitNotReady(t, "memory")
	if !strings.Contains(reason, "above the limit of 1048576") {
		t.Errorf("reason %q does not name the limit", reason)
	}
	if d := s.deep(t); d.Model.SHA256 != sum || d.Model.State != "loaded" {
		t.Errorf("got sha256 %q state %q, want the given %s and loaded", d.Model.SHA256, d.Model.State, sum)
	}
}

// TestLongHistoryIsTrimmedToFit: a conversation longer than the context
// keeps working; its oldest exchanges leave the prompt, never the database.
func TestLongHistoryIsTrimmedToFit(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "tiny.gguf"), "--ctx", "256")
	const turns = 12
	var last chatReply
	for i := range turns {
		last = s.chat(t, "/chat/longtalker", "This is a fairly long message number "+strings.Repeat("again ", 6), 24)
		if last.Usage.PromptTokens+24 > 256 {
			t.Fatalf("turn %d: prompt of %d tokens leaves no room for 24 in 256", i, last.Usage.PromptTokens)
		}
	}
	if last.HistoryMessages == 0 || last.HistoryMessages >= 2*(turns-1) {
		t.Errorf("last turn used %d history messages, want some but fewer than all %d", last.HistoryMessages, 2*(turns-1))
	}
	if last.HistoryMessages%2 != 0 {
		t.Errorf("history of %d messages: trimming split an exchange", last.HistoryMessages)
	}
}

package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// backend is an HTTP server speaking the model server's API shape, so the
// harness can be tested without llama.cpp. cutStreams makes every stream
// end wrongly; delay slows every answer.
type backend struct {
	color, version string
	delay          time.Duration
	// cutStreams: "abort" the connection or end "clean"ly before [DONE];
	// or send [DONE] after an "error" event, with "nofinish" reason, or
	// with finish_reason length "short" of max_tokens.
	cutStreams string
	hits       atomic.Int64
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	w.Header().Set(HeaderColor, b.color)
	w.Header().Set(HeaderVersion, b.version)
	if r.Header.Get(HeaderKind) == "" {
		http.Error(w, "no kind header", http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(b.delay):
	case <-r.Context().Done():
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if body["stream"] != true {
		fmt.Fprintf(w, `{"response":"hi","color":%q}`, b.color)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	f := w.(http.Flusher)
	fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n")
	f.Flush()
	time.Sleep(20 * time.Millisecond)
	fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n")
	f.Flush()
	tokens, finish := body["max_tokens"].(float64), "length"
	switch b.cutStreams {
	case "abort":
		panic(http.ErrAbortHandler)
	case "clean":
		return
	case "error":
		fmt.Fprint(w, "data: {\"error\":{\"message\":\"server shutdown timeout\",\"type\":\"server_error\"}}\n\n")
	case "short":
		tokens--
	}
	if b.cutStreams != "nofinish" {
		fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":%q}]}\n\n", finish)
		fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"completion_tokens\":%d}}\n\n", int(tokens))
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func testScenario(t *testing.T, yaml string) *Scenario {
	t.Helper()
	s, err := ParseScenario("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const shortLoad = `name: short
stack:
  model: {version: v1, path: demo-v1.gguf}
load:
  rate: 40/s
  duration: 1s
  timeout: 2s
`

func TestRunRecordsEveryRequest(t *testing.T) {
	b := &backend{color: "blue", version: "v1", delay: 5 * time.Millisecond}
	srv := httptest.NewServer(b)
	defer srv.Close()
	dir := t.TempDir()
	data, err := NewRunner(testScenario(t, shortLoad), srv.URL, dir).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(data.Records); n < 35 || n > 45 {
		t.Fatalf("requests = %d, want about 40 (40/s for 1s)", n)
	}
	if int64(len(data.Records)) != b.hits.Load() {
		t.Errorf("records %d != requests the server saw %d", len(data.Records), b.hits.Load())
	}
	kinds := map[string]int{}
	for _, r := range data.Records {
		kinds[r.Kind]++
		if r.Failed() {
			t.Errorf("request %d failed: %d %s", r.Seq, r.Status, r.Error)
		}
		if r.Color != "blue" || r.Version != "v1" {
			t.Errorf("request %d served by %q %q, want blue v1", r.Seq, r.Color, r.Version)
		}
		if (r.Kind == KindStream) != (r.TTFT > 0) {
			t.Errorf("request %d (%s): ttft %s; want ttft exactly on streams", r.Seq, r.Kind, r.TTFT)
		}
		if r.MaxTokens != DefaultMaxTokens || (r.Kind == KindStream) != (r.Tokens == DefaultMaxTokens) {
			t.Errorf("request %d (%s): max_tokens %d, tokens %d; want %d recorded, and tokens exactly on streams",
				r.Seq, r.Kind, r.MaxTokens, r.Tokens, DefaultMaxTokens)
		}
		if r.Kind == KindStream && (r.TTFT < 20*time.Millisecond || r.TTFT > r.Latency) {
			t.Errorf("stream %d: ttft %s, latency %s; want the first content chunk (after 20ms), within latency", r.Seq, r.TTFT, r.Latency)
		}
	}
	// Keep-alive is on: at 40/s on a 5 ms server, connections are reused
	// (how many depends on timing: Go keeps 2 idle connections per host).
	if s := NewStats("all", data.Records, time.Time{}, time.Now()); s.Reused == 0 {
		t.Errorf("no request of %d reused a connection; want keep-alive clients", len(data.Records))
	}
	for _, k := range Kinds {
		if d := kinds[k] - len(data.Records)/4; d < -1 || d > 1 {
			t.Errorf("kind %s: %d requests of %d, want an even mix", k, kinds[k], len(data.Records))
		}
	}
	// The raw file is vegeta's own gob encoding and holds the same results.
	again, err := ReadResults(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(data.Records) {
		t.Errorf("results.bin holds %d results, the run returned %d", len(again), len(data.Records))
	}
	f, _ := os.Open(filepath.Join(dir, ResultsFile))
	defer f.Close()
	var first vegeta.Result
	if err := vegeta.NewDecoder(f).Decode(&first); err != nil {
		t.Fatalf("vegeta's gob decoder cannot read results.bin: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, RunFile)); err != nil {
		t.Errorf("no run.json: %v", err)
	}
}

func TestRunFailures(t *testing.T) {
	tests := []struct {
		name     string
		backend  *backend
		yaml     string
		wantType string
		kind     string
	}{
		{"stream aborted before DONE", &backend{color: "green", version: "v2", cutStreams: "abort"},
			"name: cut\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 10/s\n  duration: 500ms\n  mix: [{kind: completions_stream, weight: 1}]\n",
			"stream cut before [DONE]", KindStream},
		{"stream ended cleanly without DONE", &backend{color: "green", version: "v2", cutStreams: "clean"},
			"name: cut\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 10/s\n  duration: 500ms\n  mix: [{kind: completions_stream, weight: 1}]\n",
			"stream cut before [DONE]", KindStream},
		{"error event before DONE", &backend{color: "green", version: "v2", cutStreams: "error"},
			"name: cut\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 10/s\n  duration: 500ms\n  mix: [{kind: completions_stream, weight: 1}]\n",
			"stream error event", KindStream},
		{"DONE without a finish_reason", &backend{color: "green", version: "v2", cutStreams: "nofinish"},
			"name: cut\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 10/s\n  duration: 500ms\n  mix: [{kind: completions_stream, weight: 1}]\n",
			"stream truncated", KindStream},
		{"length short of max_tokens", &backend{color: "green", version: "v2", cutStreams: "short"},
			"name: cut\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 10/s\n  duration: 500ms\n  mix: [{kind: completions_stream, weight: 1, maxTokens: 300}]\n",
			"stream truncated", KindStream},
		{"timeout", &backend{color: "blue", version: "v1", delay: time.Second},
			"name: slow\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 10/s\n  duration: 300ms\n  timeout: 100ms\n  mix: [{kind: chat, weight: 1}]\n",
			"timeout", KindChat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.backend)
			defer srv.Close()
			data, err := NewRunner(testScenario(t, tt.yaml), srv.URL, t.TempDir()).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(data.Records) == 0 {
				t.Fatal("no requests")
			}
			for _, r := range data.Records {
				if !r.Failed() || ErrorType(r) != tt.wantType || r.Kind != tt.kind {
					t.Errorf("request %d: failed=%v type %q kind %q (err %q); want failed, %q, %q",
						r.Seq, r.Failed(), ErrorType(r), r.Kind, r.Error, tt.wantType, tt.kind)
				}
			}
		})
	}
}

func TestRunConcurrencyIsClosedLoop(t *testing.T) {
	var inFlight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		w.Header().Set(HeaderColor, "blue")
	}))
	defer srv.Close()
	sc := testScenario(t, "name: c\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  concurrency: 3\n  duration: 500ms\n  mix: [{kind: chat, weight: 1}]\n")
	data, err := NewRunner(sc, srv.URL, t.TempDir()).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 3 {
		t.Errorf("peak concurrency %d, want 3", peak.Load())
	}
	// 3 clients × 500ms / ~20ms per request: about 75, never hundreds.
	if n := len(data.Records); n < 30 || n > 90 {
		t.Errorf("requests = %d, want about 75", n)
	}
}

func TestProgressLine(t *testing.T) {
	srv := httptest.NewServer(&backend{color: "blue", version: "v1"})
	defer srv.Close()
	var out strings.Builder
	w := &lockedWriter{w: &out}
	sc := testScenario(t, shortLoad)
	if _, err := NewRunner(sc, srv.URL, t.TempDir(), WithProgress(w, 200*time.Millisecond)).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(w.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("progress printed %d lines in 1s at 200ms, want at least 3:\n%s", len(lines), w.String())
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "[short]    1s  requests ") || !strings.Contains(last, "failed 0") || !strings.Contains(last, "step: no deploy yet") {
		t.Errorf("last progress line = %q", last)
	}
}

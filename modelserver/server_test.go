package modelserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

func TestEndpoints(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "tiny.gguf"), "--color", "green", "--model-version", "v7")

	t.Run("healthz", func(t *testing.T) {
		var got map[string]string
		if code := s.getJSON(t, "/healthz", &got); code != http.StatusOK || got["status"] != "alive" {
			t.Errorf("got %d %v, want 200 alive", code, got)
		}
	})
	t.Run("ready", func(t *testing.T) {
		var got struct{ Ready bool }
		if code := s.getJSON(t, "/ready", &got); code != http.StatusOK || !got.Ready {
			t.Errorf("got %d %+v, want 200 ready", code, got)
		}
	})
	t.Run("health/deep", func(t *testing.T) {
		d := s.waitDeep(t, "sha256 computed", func(d deepHealth) bool { return d.Model.SHA256 != "" })
		checks := []struct {
			name string
			ok   bool
		}{
			{"color green", d.Color == "green"},
			{"version v7", d.Model.Version == "v7"},
			{"name tiny", d.Model.Name == "tiny"},
			{"architecture llama", d.Model.Architecture == "llama"},
			{"quantization F32", d.Model.Quantization == "F32"},
			{"parameters", d.Model.Parameters > 0},
			{"sha256 hex", len(d.Model.SHA256) == 64},
			{"file", strings.HasSuffix(d.Model.File, "tiny.gguf")},
			{"instance id", len(d.InstanceID) == 32},
			{"pid", d.PID > 0},
			{"rss >= pss > 0", d.RSS >= d.PSS && d.PSS > 0},
			{"container id field", d.ContainerID != nil},
			{"host", d.Host != ""},
			{"ready", d.Ready && d.ReadyReason == ""},
			{"started_at", d.StartedAt != ""},
			{"build version", d.Build != ""},
			{"uptime", d.Uptime > 0},
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf("%s: got %+v", c.name, d)
			}
		}
	})
	t.Run("chat", func(t *testing.T) {
		r := s.chat(t, "/chat", "Hello, how are you?", 12)
		if r.Response == "" || r.Usage.CompletionTokens == 0 || r.Usage.CompletionTokens > 12 || r.Color != "green" || r.Version != "v7" {
			t.Errorf("got %+v", r)
		}
		if r.Usage.TotalTokens != r.Usage.PromptTokens+r.Usage.CompletionTokens || r.Timings.InferenceMS <= 0 {
			t.Errorf("inconsistent usage or timings: %+v", r)
		}
	})
	t.Run("chat with user", func(t *testing.T) {
		r := s.chat(t, "/chat/user_1", "Hi there", 8)
		if r.UserID != "user_1" || r.HistoryMessages != 0 {
			t.Errorf("first turn: got %+v", r)
		}
		r = s.chat(t, "/chat/user_1", "And again", 8)
		if r.HistoryMessages != 2 {
			t.Errorf("second turn: history_messages %d, want 2", r.HistoryMessages)
		}
	})
	t.Run("v1/chat/completions", func(t *testing.T) {
		code, body, _ := s.post(t, context.Background(), "/v1/chat/completions", map[string]any{
			"model": "anything", "messages": []map[string]any{{"role": "system", "content": "Be brief."}, {"role": "user", "content": []map[string]string{{"type": "text", "text": "Hi"}}}},
			"max_tokens": 6, "temperature": 0,
		})
		var got struct {
			Object  string
			Model   string
			Choices []struct {
				Message      struct{ Role, Content string }
				FinishReason string `json:"finish_reason"`
			}
			Usage struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		if err := json.Unmarshal(body, &got); code != http.StatusOK || err != nil {
			t.Fatalf("got %d %s", code, body)
		}
		if got.Object != "chat.completion" || len(got.Choices) != 1 || got.Choices[0].Message.Role != "assistant" ||
			got.Choices[0].FinishReason == "" || got.Usage.CompletionTokens == 0 || got.Model != "tiny" {
			t.Errorf("got %s", body)
		}
	})
	t.Run("v1/models", func(t *testing.T) {
		var got struct {
			Object string
			Data   []struct{ ID, Object, Version string }
		}
		if code := s.getJSON(t, "/v1/models", &got); code != http.StatusOK || len(got.Data) != 1 || got.Data[0].ID != "tiny" || got.Data[0].Version != "v7" {
			t.Errorf("got %d %+v", code, got)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get(s.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		checkHeaders(t, resp)
		body, _ := io.ReadAll(resp.Body)
		text := string(body)
		for _, want := range []string{
			`zdml_http_requests_total{code="200",route="/chat"}`,
			`zdml_http_requests_total{code="200",route="/chat/{user_id}"}`,
			`zdml_http_request_duration_seconds_bucket{route="/ready",le="120"}`,
			"zdml_inference_duration_seconds_count", "zdml_time_to_first_token_seconds_count",
			"zdml_tokens_per_second_count", "zdml_generated_tokens_total", "zdml_prompt_tokens_total",
			"zdml_in_flight_requests", "zdml_queue_depth", "zdml_queue_rejected_total",
			"zdml_model_ready 1", `zdml_model_info{color="green",model="tiny",quantization="F32",version="v7"} 1`,
			"zdml_memory_pss_bytes", "process_resident_memory_bytes",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(text, "user_1") {
			t.Errorf("/metrics has a raw user id in a label")
		}
	})
}

func TestConcurrentClients(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "tiny.gguf"), "--parallel", "4", "--queue", "16")
	const clients = 12
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			max := 5 + i
			code, body, _ := s.post(t, context.Background(), "/chat", map[string]any{"message": strings.Repeat("tell me a story ", 1+i%3), "max_tokens": max, "temperature": 0})
			var r chatReply
			if err := json.Unmarshal(body, &r); code != http.StatusOK || err != nil {
				errs <- string(body)
				return
			}
			if r.Usage.CompletionTokens == 0 || r.Usage.CompletionTokens > max || !utf8.ValidString(r.Response) ||
				(r.FinishReason == "length") != (r.Usage.CompletionTokens == max) {
				errs <- string(body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("bad answer: %s", e)
	}
}

// TestBatchingKeepsGreedyOutput checks that continuous batching does not mix
// sequences: a greedy reply is the same alone and among concurrent others.
func TestBatchingKeepsGreedyOutput(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "tiny.gguf"), "--parallel", "4")
	prompts := []string{"What is the capital of France?", "Count to ten.", "Tell me about the sea.", "Why is the sky blue?"}
	ask := func(p string) string {
		code, body, _ := s.post(t, context.Background(), "/chat", map[string]any{"message": p, "max_tokens": 24, "temperature": 0})
		var r chatReply
		if err := json.Unmarshal(body, &r); code != http.StatusOK || err != nil {
			t.Fatalf("%d %s", code, body)
		}
		return r.Response
	}
	alone := map[string]string{}
	for _, p := range prompts {
		alone[p] = ask(p)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	together := map[string]string{}
	for _, p := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := ask(p)
			mu.Lock()
			together[p] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, p := range prompts {
		if got, want := together[p], alone[p]; got != want {
			t.Errorf("%q: batched reply %q, alone %q", p, got, want)
		}
	}
}

func TestStreamIsWellFormed(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "tiny.gguf"))
	body := `{"messages":[{"role":"user","content":"Stream me something"}],"max_tokens":40,"stream":true,"stream_options":{"include_usage":true}}`
	resp, err := http.Post(s.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	checkHeaders(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	type chunk struct {
		ID      string
		Object  string
		Choices []struct {
			Delta        struct{ Role, Content *string }
			FinishReason *string `json:"finish_reason"`
		}
		Usage *struct {
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	var chunks []chunk
	var text strings.Builder
	done := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if done {
			t.Fatalf("data after [DONE]: %q", line)
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line without data: %q", line)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		if c.Object != "chat.completion.chunk" || c.ID == "" {
			t.Errorf("chunk %q: bad object or id", data)
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text.WriteString(*ch.Delta.Content)
			}
		}
		chunks = append(chunks, c)
	}
	if !done {
		t.Fatal("stream did not end with data: [DONE]")
	}
	if n := len(chunks); n < 4 {
		t.Fatalf("only %d chunks", n)
	}
	first, last, usage := chunks[0], chunks[len(chunks)-2], chunks[len(chunks)-1]
	if first.Choices[0].Delta.Role == nil || *first.Choices[0].Delta.Role != "assistant" {
		t.Errorf("first chunk has no assistant role")
	}
	if fr := last.Choices[0].FinishReason; fr == nil || (*fr != "stop" && *fr != "length") {
		t.Errorf("last choice chunk has finish_reason %v", fr)
	}
	if usage.Usage == nil || len(usage.Choices) != 0 || usage.Usage.CompletionTokens == 0 {
		t.Errorf("usage chunk: %+v", usage)
	}
	if !utf8.ValidString(text.String()) || text.Len() == 0 {
		t.Errorf("streamed text %q: empty or invalid UTF-8", text.String())
	}
}

// TestContextFullEndsWithLength: a reply that would overflow the slot's
// context stops cleanly with finish_reason "length", and a prompt that
// cannot fit at all is a 400, never a crash or a 500.
func TestContextFullEndsWithLength(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "tiny.gguf"), "--ctx", "256", "--max-tokens-limit", "1000")
	code, body, _ := s.post(t, context.Background(), "/v1/chat/completions", map[string]any{
		"messages": []map[string]string{{"role": "user", "content": "Go on forever."}}, "max_tokens": 1000, "temperature": 0})
	var got struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	if err := json.Unmarshal(body, &got); code != http.StatusOK || err != nil || len(got.Choices) != 1 {
		t.Fatalf("got %d %s", code, body)
	}
	// The last sampled token never needs decoding, so it is one past the 256.
	if got.Choices[0].FinishReason != "length" || got.Usage.PromptTokens+got.Usage.CompletionTokens != 257 {
		t.Errorf("got finish %q with %d+%d tokens, want length with the context of 256 full",
			got.Choices[0].FinishReason, got.Usage.PromptTokens, got.Usage.CompletionTokens)
	}
	long := strings.Repeat("word ", 400)
	code, body, _ = s.post(t, context.Background(), "/v1/chat/completions", map[string]any{
		"messages": []map[string]string{{"role": "user", "content": long}}, "max_tokens": 5})
	if code != http.StatusBadRequest || !strings.Contains(string(body), "the context holds 256") {
		t.Errorf("prompt over the context: got %d %s, want 400", code, body)
	}
	code, body, _ = s.post(t, context.Background(), "/chat", map[string]any{"message": long, "max_tokens": 5})
	if code != http.StatusBadRequest || !strings.Contains(string(body), "a context of 256") {
		t.Errorf("chat message over the context: got %d %s, want 400", code, body)
	}
	if r := s.chat(t, "/chat", "still fine?", 3); r.Usage.CompletionTokens == 0 {
		t.Errorf("no reply after a full context: %+v", r)
	}
}

package modelserver_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// logprobsReply is POST /v1/logprobs's answer.
type logprobsReply struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Content []struct {
		ID          int      `json:"id"`
		Token       string   `json:"token"`
		Bytes       []int    `json:"bytes"`
		Logprob     *float64 `json:"logprob"`
		TopLogprobs []struct {
			ID      int     `json:"id"`
			Token   string  `json:"token"`
			Logprob float64 `json:"logprob"`
			Bytes   []int   `json:"bytes"`
		} `json:"top_logprobs"`
		TokenIDLogprobs []float64 `json:"token_id_logprobs"`
	} `json:"content"`
	LogprobSum  float64 `json:"logprob_sum"`
	MeanLogprob float64 `json:"mean_logprob"`
	Perplexity  float64 `json:"perplexity"`
	Usage       struct {
		PromptTokens    int `json:"prompt_tokens"`
		ScoredTokens    int `json:"scored_tokens"`
		TruncatedTokens int `json:"truncated_tokens"`
	} `json:"usage"`
}

func (s *server) logprobs(t *testing.T, body map[string]any) logprobsReply {
	t.Helper()
	code, b, _ := s.post(t, context.Background(), "/v1/logprobs", body)
	if code != http.StatusOK {
		t.Fatalf("POST /v1/logprobs: %d %s", code, b)
	}
	var r logprobsReply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("POST /v1/logprobs: %v: %s", err, b)
	}
	return r
}

// POST /v1/logprobs gives every token of a text, its log-probability given
// the tokens before it (none for the first), its alternatives and the
// log-probabilities of the ids a caller names, and the text's perplexity.
func TestLogprobsScoresText(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "tiny.gguf"))
	const text = "The sun is warm, and the sea is blue."
	r := s.logprobs(t, map[string]any{"text": text, "top_logprobs": 4})
	var spelled []byte
	sum := 0.0
	for i, c := range r.Content {
		for _, b := range c.Bytes {
			spelled = append(spelled, byte(b))
		}
		if i == 0 {
			if c.Logprob != nil || len(c.TopLogprobs) != 0 {
				t.Errorf("first token scored: %+v", c)
			}
			continue
		}
		if c.Logprob == nil || *c.Logprob > 0 || len(c.TopLogprobs) != 4 || c.TopLogprobs[0].Logprob < *c.Logprob {
			t.Errorf("token %d: %+v", i, c)
		}
		sum += *c.Logprob
	}
	if string(spelled) != text || r.Object != "text.logprobs" || r.Model != "tiny" {
		t.Errorf("tokens spell %q (object %q, model %q), want %q", spelled, r.Object, r.Model, text)
	}
	n := len(r.Content) - 1
	if r.Usage.PromptTokens != len(r.Content) || r.Usage.ScoredTokens != n || math.Abs(r.LogprobSum-sum) > 1e-9 ||
		math.Abs(r.Perplexity-math.Exp(-sum/float64(n))) > 1e-6*r.Perplexity {
		t.Errorf("usage %+v, sum %v (want %v), perplexity %v", r.Usage, r.LogprobSum, sum, r.Perplexity)
	}

	// Naming the alternatives at each position gives back their logprobs.
	ids := make([][]int, len(r.Content))
	ids[0] = []int{}
	for i := 1; i < len(r.Content); i++ {
		for _, alt := range r.Content[i].TopLogprobs {
			ids[i] = append(ids[i], alt.ID)
		}
	}
	named := s.logprobs(t, map[string]any{"text": text, "token_ids": ids})
	for i := 1; i < len(named.Content); i++ {
		got := named.Content[i].TokenIDLogprobs
		if len(got) != 4 || len(named.Content[i].TopLogprobs) != 0 {
			t.Fatalf("position %d: %+v", i, named.Content[i])
		}
		for j, lp := range got {
			if math.Abs(lp-r.Content[i].TopLogprobs[j].Logprob) > 1e-9 {
				t.Errorf("position %d id %d: %v, want %v", i, ids[i][j], lp, r.Content[i].TopLogprobs[j].Logprob)
			}
		}
	}

	// truncate scores the first tokens only, and says how many were cut.
	cut := s.logprobs(t, map[string]any{"text": text, "truncate": 3})
	if cut.Usage.PromptTokens != 3 || cut.Usage.TruncatedTokens != len(r.Content)-3 || *cut.Content[2].Logprob != *r.Content[2].Logprob {
		t.Errorf("truncate 3: %+v", cut.Usage)
	}
}

// A scoring takes a slot and counts in flight like a generation (the
// reconciler drains on in_flight), shows in the metrics, and a client that
// goes away frees the slot at the next decode step.
func TestLogprobsTakesASlotAndFollowsTheClient(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "demo-v1.gguf"), "--parallel", "1", "--queue", "0", "--ctx", "1024")
	long := strings.Repeat("The river runs to the sea, and the boat goes with it. ", 60)
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		c, _, _ := s.post(t, ctx, "/v1/logprobs", map[string]any{"text": long, "truncate": 1024, "top_logprobs": 20})
		code <- c
	}()
	s.waitDeep(t, "the scoring in flight", func(d deepHealth) bool { return d.Running == 1 && d.InFlight == 1 })
	busy, body, _ := s.post(t, context.Background(), "/chat", map[string]any{"message": "hi", "max_tokens": 2})
	if busy != http.StatusServiceUnavailable {
		t.Errorf("a chat beside the scoring with no queue: %d %s, want 503", busy, body)
	}
	start := time.Now()
	cancel()
	<-code
	s.waitDeep(t, "the slot freed", func(d deepHealth) bool { return d.Running == 0 && d.InFlight == 0 })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("slot freed %v after the disconnect", d)
	}
	r := s.logprobs(t, map[string]any{"text": "the sea is blue"})
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`zdml_http_requests_total{code="200",route="/v1/logprobs"} 1`, "zdml_score_duration_seconds_count 1",
		"zdml_scored_tokens_total " + itoa(r.Usage.ScoredTokens)} {
		if !strings.Contains(string(m), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

package quality

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// client talks to one model server directly (not through nginx).
type client struct {
	http *http.Client
	base string // http://host:port
}

func newClient(hc *http.Client, addr string) *client {
	base := strings.TrimSuffix(addr, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &client{http: hc, base: base}
}

// identity is the part of /health/deep that names the served model.
type identity struct {
	Model struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		SHA256  string `json:"sha256"`
	} `json:"model"`
}

func (c *client) identity(ctx context.Context) (identity, error) {
	var id identity
	return id, c.do(ctx, http.MethodGet, "/health/deep", nil, &id)
}

// reply is one golden prompt's greedy answer.
type reply struct {
	Text         string `json:"text"`
	FinishReason string `json:"finish_reason"`
	Tokens       int    `json:"tokens"`
}

// goldenSeed fixes the sampler's seed; at temperature 0 the reply is the
// greedy one anyway.
const goldenSeed = 1

func (c *client) complete(ctx context.Context, prompt string, maxTokens int) (reply, error) {
	body := map[string]any{
		"messages":    []map[string]string{{"role": "user", "content": prompt}},
		"max_tokens":  maxTokens,
		"temperature": 0,
		"seed":        goldenSeed,
	}
	var out struct {
		Choices []struct {
			Message      struct{ Content string } `json:"message"`
			FinishReason string                   `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/chat/completions", body, &out); err != nil {
		return reply{}, err
	}
	if len(out.Choices) != 1 {
		return reply{}, fmt.Errorf("%s/v1/chat/completions: %d choices, want 1", c.base, len(out.Choices))
	}
	return reply{Text: out.Choices[0].Message.Content, FinishReason: out.Choices[0].FinishReason, Tokens: out.Usage.CompletionTokens}, nil
}

// scoreRequest is POST /v1/logprobs's body.
type scoreRequest struct {
	Text        string  `json:"text"`
	TopLogprobs int     `json:"top_logprobs,omitempty"`
	TokenIDs    [][]int `json:"token_ids,omitempty"`
	Truncate    int     `json:"truncate,omitempty"`
}

// scored is what the gate keeps of POST /v1/logprobs's answer.
type scored struct {
	Content []struct {
		ID          int      `json:"id"`
		Logprob     *float64 `json:"logprob"`
		TopLogprobs []struct {
			ID      int     `json:"id"`
			Logprob float64 `json:"logprob"`
		} `json:"top_logprobs"`
		TokenIDLogprobs []float64 `json:"token_id_logprobs"`
	} `json:"content"`
	Usage struct {
		PromptTokens    int `json:"prompt_tokens"`
		TruncatedTokens int `json:"truncated_tokens"`
	} `json:"usage"`
}

func (c *client) score(ctx context.Context, req scoreRequest) (scored, error) {
	var out scored
	if err := c.do(ctx, http.MethodPost, "/v1/logprobs", req, &out); err != nil {
		return out, err
	}
	if len(out.Content) != out.Usage.PromptTokens || len(out.Content) < 2 {
		return out, fmt.Errorf("%s/v1/logprobs: %d tokens for prompt_tokens %d", c.base, len(out.Content), out.Usage.PromptTokens)
	}
	return out, nil
}

// do sends body as JSON and decodes a 200 answer into out; any other
// status is an error with the server's message.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s%s: %w", c.base, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		return fmt.Errorf("%s%s: %d %s", c.base, path, resp.StatusCode, msg)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s%s: %w", c.base, path, err)
	}
	return nil
}

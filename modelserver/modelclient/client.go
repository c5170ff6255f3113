package modelclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// DeepHealth is the part of a model server's /health/deep the reconciler
// and its drivers read: identity (instance_id, pid), the model it serves, and in_flight,
// on which the drain waits.
type DeepHealth struct {
	InstanceID string `json:"instance_id"`
	Color      string `json:"color"`
	Model      struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		File    string `json:"file"`
		SHA256  string `json:"sha256"`
		State   string `json:"state"` // loading, loaded, failed
		Error   string `json:"error"`
	} `json:"model"`
	ContainerID string `json:"container_id"`
	PID         int    `json:"pid"`
	RSSBytes    int64  `json:"rss_bytes"`
	PSSBytes    int64  `json:"pss_bytes"`
	InFlight    int64  `json:"in_flight"`
	QueueDepth  int    `json:"queue_depth"`
	Ready       bool   `json:"ready"`
	ReadyReason string `json:"ready_reason"`
	Draining    bool   `json:"draining"`
}

// Served is what a model server's response headers say about who answered.
type Served struct {
	Color   spec.Color
	Version string
}

// ServedBy reads the X-Model-Color and X-Model-Version headers every
// model-server response carries (docs/architecture.md).
func ServedBy(h http.Header) Served {
	return Served{Color: spec.Color(h.Get("X-Model-Color")), Version: h.Get("X-Model-Version")}
}

// Client talks to model servers directly (not through nginx), with a
// fresh connection per request so a draining server's closed connection is
// never reused. It is safe for concurrent use.
//
// A server's address is host:port (plain HTTP), or a base URL that the
// API paths are appended to: runtime kubernetes reaches a color through
// the API server's service proxy,
// https://<apiserver>/api/v1/namespaces/<ns>/services/<name>:http/proxy,
// with a Client made WithTransport(the API server's authenticated
// transport).
type Client struct {
	http *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithTransport sends every request through rt instead of a fresh plain
// connection: for addresses behind a proxy that authenticates, such as the
// Kubernetes API server (rest.TransportFor).
func WithTransport(rt http.RoundTripper) Option {
	return func(c *Client) { c.http = &http.Client{Transport: rt} }
}

// New returns a Client.
func New(opts ...Option) *Client {
	c := &Client{http: &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// URL is the URL of path on the server at addr (host:port or a base URL).
func URL(addr, path string) string {
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimSuffix(addr, "/") + path
	}
	return "http://" + addr + path
}

// Deep fetches /health/deep within 2 s.
func (c *Client) Deep(ctx context.Context, addr string) (DeepHealth, error) {
	var d DeepHealth
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	body, _, status, err := c.do(ctx, http.MethodGet, addr, "/health/deep", nil)
	if err != nil {
		return d, err
	}
	if status != http.StatusOK {
		return d, fmt.Errorf("%s/health/deep: status %d", addr, status)
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return d, fmt.Errorf("%s/health/deep: %w", addr, err)
	}
	return d, nil
}

// Ready asks /ready: nil when ready, else why not. The served headers are
// returned either way, to tell our server from a stranger on the port.
func (c *Client) Ready(ctx context.Context, addr string) (Served, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, h, status, err := c.do(ctx, http.MethodGet, addr, "/ready", nil)
	if err != nil {
		return Served{}, err
	}
	if status != http.StatusOK {
		var r struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(body, &r)
		if r.Reason == "" {
			r.Reason = strings.TrimSpace(string(body))
		}
		return ServedBy(h), fmt.Errorf("not ready (%d): %s", status, r.Reason)
	}
	return ServedBy(h), nil
}

// Completion runs one chat completion and returns the reply text.
func (c *Client) Completion(ctx context.Context, addr, prompt string, maxTokens int) (string, Served, error) {
	req := map[string]any{
		"messages":    []map[string]string{{"role": "user", "content": prompt}},
		"max_tokens":  maxTokens,
		"temperature": 0,
	}
	b, _ := json.Marshal(req)
	body, h, status, err := c.do(ctx, http.MethodPost, addr, "/v1/chat/completions", b)
	if err != nil {
		return "", Served{}, err
	}
	if status != http.StatusOK {
		return "", ServedBy(h), fmt.Errorf("status %d: %s", status, truncate(string(body), 200))
	}
	var resp struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", ServedBy(h), fmt.Errorf("completion: %w", err)
	}
	if len(resp.Choices) == 0 {
		return "", ServedBy(h), errors.New("completion: no choices")
	}
	return resp.Choices[0].Message.Content, ServedBy(h), nil
}

func (c *Client) do(ctx context.Context, method, addr, path string, body []byte) ([]byte, http.Header, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, URL(addr, path), rd)
	if err != nil {
		return nil, nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, resp.Header, resp.StatusCode, err
	}
	return b, resp.Header, resp.StatusCode, nil
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

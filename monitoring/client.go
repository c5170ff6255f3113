package monitoring

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Client asks a Prometheus server over its HTTP API (the official
// client_golang api/v1), with a timeout on every call.
type Client struct {
	api     v1.API
	url     string
	timeout time.Duration
}

// NewClient returns a Client for the Prometheus at url.
func NewClient(url string) (*Client, error) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("prometheus client %s: %w", url, err)
	}
	return &Client{api: v1.NewAPI(c), url: url, timeout: 10 * time.Second}, nil
}

// URL is the server's base URL.
func (c *Client) URL() string { return c.url }

// Query evaluates expr at time at and returns the instant vector; a scalar
// result becomes one sample without labels.
func (c *Client) Query(ctx context.Context, expr string, at time.Time) (model.Vector, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, _, _, err := c.api.Query(ctx, expr, at)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	switch r := v.(type) {
	case model.Vector:
		return r, nil
	case *model.Scalar:
		return model.Vector{{Metric: model.Metric{}, Value: r.Value, Timestamp: r.Timestamp}}, nil
	default:
		return nil, fmt.Errorf("query %q: got a %s, want a vector", expr, v.Type())
	}
}

// QueryRange evaluates expr over [start, end] every step.
func (c *Client) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) (model.Matrix, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, _, _, err := c.api.QueryRange(ctx, expr, v1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, fmt.Errorf("query range %q: %w", expr, err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("query range %q: got a %s, want a matrix", expr, v.Type())
	}
	return m, nil
}

// LabelValues lists the values of label on series matching match, as a
// Grafana label_values() variable does.
func (c *Client) LabelValues(ctx context.Context, label, match string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	vals, _, _, err := c.api.LabelValues(ctx, label, []string{match}, time.Now().Add(-time.Hour), time.Now())
	if err != nil {
		return nil, fmt.Errorf("label values %s%s: %w", label, match, err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out, nil
}

// Alerts lists the alerts that are pending or firing.
func (c *Client) Alerts(ctx context.Context) ([]v1.Alert, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r, err := c.api.Alerts(ctx)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	return r.Alerts, nil
}

// RuleHealth returns, for each loaded rule, its health ("ok", "err",
// "unknown") and last error, keyed by alert or record name (a recording
// rule recorded under several labels appears once per last error seen).
func (c *Client) RuleHealth(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r, err := c.api.Rules(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	out := map[string]string{}
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			switch x := rule.(type) {
			case v1.AlertingRule:
				out[x.Name] = string(x.Health) + lastError(x.LastError)
			case v1.RecordingRule:
				out[x.Name] = string(x.Health) + lastError(x.LastError)
			}
		}
	}
	return out, nil
}

func lastError(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

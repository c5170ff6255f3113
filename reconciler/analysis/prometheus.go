package analysis

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Prometheus answers PromQL metrics through a Prometheus server's HTTP API.
type Prometheus struct {
	api     promv1.API
	timeout time.Duration
}

var _ Querier = (*Prometheus)(nil)

// NewPrometheus returns a querier for the server at address (a URL such
// as http://127.0.0.1:9090). Each query is bounded by timeout, so a hung
// Prometheus never holds up a decision, least of all an abort.
func NewPrometheus(address string, timeout time.Duration) (*Prometheus, error) {
	c, err := api.NewClient(api.Config{Address: address})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", address, err)
	}
	return &Prometheus{api: promv1.NewAPI(c), timeout: timeout}, nil
}

// Query runs an instant query that must yield one number: a scalar, or a
// vector of exactly one sample. An empty vector is NaN (no data), which
// the analysis counts as inconclusive.
func (p *Prometheus) Query(ctx context.Context, q string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	v, _, _, err := p.api.Query(ctx, q, time.Now())
	if err != nil {
		return math.NaN(), fmt.Errorf("query %q: %w", q, err)
	}
	switch r := v.(type) {
	case *model.Scalar:
		return float64(r.Value), nil
	case model.Vector:
		switch len(r) {
		case 0:
			return math.NaN(), nil
		case 1:
			return float64(r[0].Value), nil
		}
		return math.NaN(), fmt.Errorf("query %q: %d series, want one (aggregate it, e.g. with sum)", q, len(r))
	}
	return math.NaN(), fmt.Errorf("query %q: a %s, want a scalar or one sample", q, v.Type())
}

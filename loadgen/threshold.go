package loadgen

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
	"go.yaml.in/yaml/v3"
)

// Threshold is one k6-style pass/fail check of a run, written in a
// scenario as `metric{phase:name}: aggregate op value`, for example
//
//	http_req_failed: rate == 0
//	http_req_duration{phase:deploy}: p99 <= 3x baseline
//	ttft: p95 < 2s
//	deploy: outcome == succeeded
//
// See loadgen/scenarios/README.md for every metric and aggregate.
type Threshold struct {
	Metric string
	Phase  string // "" is the whole run
	Agg    string
	Op     string
	// Value is the bound: a count, a fraction, or seconds for durations.
	Value float64
	// Factor, when set, makes the bound Factor × the same aggregate in the
	// "before" phase of the same run ("3x baseline").
	Factor float64
	// Word is the bound of a string aggregate (deploy outcome).
	Word string
	// Text is the threshold as written.
	Text string
	// Line is where it was written (0 when built in code).
	Line int
}

// Thresholds is the thresholds mapping of a scenario, in file order.
type Thresholds []Threshold

// metricAggs lists each metric's aggregates.
var metricAggs = map[string][]string{
	"http_req_failed":   {"rate", "count"},
	"http_reqs":         {"count", "rate"},
	"http_req_duration": {"p50", "p90", "p95", "p99", "max", "avg", "min"},
	"ttft":              {"p50", "p90", "p95", "p99", "max", "avg", "min"},
	"deploy":            {"outcome", "duration"},
	"deploys":           {"count", "succeeded", "rolled_back", "unexpected"},
	"resources":         {"growing", "disk_mib_per_hour"},
	"canary":            {"max_weight", "windows", "failed_windows", "passed_windows", "to_weight_zero", "first_fail_to_weight_zero"},
}

// Phases a threshold may name. deploy is from the first step of the deploy
// to its last (in a series: inside any deploy's window); the others are
// cut by the reconciler's step events. outside is, in a series, every
// request outside the deploy windows, and between those between the first
// deploy and the last.
var Phases = []string{"before", "warmup", "canary", "swap", "drain", "rollback", "after", "deploy", "between", "outside"}

var (
	keyRE  = regexp.MustCompile(`^([a-z_]+)(?:\{phase:([a-z]+)\})?$`)
	exprRE = regexp.MustCompile(`^(p\(\d+\)|[a-z0-9_]+)\s*(<=|>=|==|!=|<|>)\s*(.+)$`)
)

// ParseThreshold parses one key (metric and phase) and expression.
func ParseThreshold(key, expr string) (Threshold, error) {
	t := Threshold{Text: key + ": " + expr}
	m := keyRE.FindStringSubmatch(strings.TrimSpace(key))
	if m == nil {
		return t, fmt.Errorf("want metric or metric{phase:name}, got %q", key)
	}
	t.Metric, t.Phase = m[1], m[2]
	aggs, ok := metricAggs[t.Metric]
	if !ok {
		return t, fmt.Errorf("unknown metric %q (known: http_req_failed, http_reqs, http_req_duration, ttft, deploy, deploys, resources, canary)", t.Metric)
	}
	if t.Phase != "" && !slices.Contains(Phases, t.Phase) {
		return t, fmt.Errorf("unknown phase %q (known: %s)", t.Phase, strings.Join(Phases, ", "))
	}
	e := exprRE.FindStringSubmatch(strings.TrimSpace(expr))
	if e == nil {
		return t, fmt.Errorf("want \"aggregate op value\" such as \"p99 <= 2s\", got %q", expr)
	}
	t.Agg, t.Op = normAgg(e[1]), e[2]
	if !slices.Contains(aggs, t.Agg) {
		return t, fmt.Errorf("metric %s has no aggregate %q (known: %s)", t.Metric, e[1], strings.Join(aggs, ", "))
	}
	return t, t.parseBound(strings.TrimSpace(e[3]))
}

// normAgg turns k6's p(99) into p99.
func normAgg(a string) string {
	if strings.HasPrefix(a, "p(") {
		return "p" + strings.TrimSuffix(strings.TrimPrefix(a, "p("), ")")
	}
	return a
}

func (t *Threshold) parseBound(v string) error {
	if t.Agg == "outcome" {
		if t.Op != "==" && t.Op != "!=" {
			return fmt.Errorf("outcome compares with == or != only")
		}
		if v != ExpectSucceeded && v != ExpectRolledBack && v != "failed" {
			return fmt.Errorf("outcome is succeeded, rolled_back or failed, got %q", v)
		}
		t.Word = v
		return nil
	}
	if f, ok := strings.CutSuffix(v, "x baseline"); ok {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || x <= 0 {
			return fmt.Errorf("want \"Nx baseline\" with a positive N, got %q", v)
		}
		if t.Metric != "http_req_duration" && t.Metric != "ttft" {
			return fmt.Errorf("\"x baseline\" applies to http_req_duration and ttft only")
		}
		if t.Phase == "before" {
			return fmt.Errorf("\"x baseline\" compares with the phase before the deploy: name another phase, e.g. %s{phase:deploy}", t.Metric)
		}
		t.Factor = x
		return nil
	}
	if t.isDuration() {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("want a duration such as 2s or \"Nx baseline\", got %q", v)
		}
		t.Value = d.Seconds()
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("want a number, got %q", v)
	}
	t.Value = f
	return nil
}

func (t Threshold) isDuration() bool {
	return t.Metric == "http_req_duration" || t.Metric == "ttft" || (t.Metric == "deploy" && t.Agg == "duration") ||
		(t.Metric == "canary" && strings.HasSuffix(t.Agg, "to_weight_zero"))
}

// Compare applies the threshold's operator to got and bound.
func (t Threshold) Compare(got, bound float64) bool {
	switch t.Op {
	case "<":
		return got < bound
	case "<=":
		return got <= bound
	case ">":
		return got > bound
	case ">=":
		return got >= bound
	case "==":
		return got == bound
	}
	return got != bound
}

// UnmarshalYAML reads a mapping of metric keys to one expression or a list
// of them (k6 style). Each error is a spec.FieldError naming the line of the
// bad expression, which spec.Decode keeps.
func (ts *Thresholds) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("want a mapping of metric to expression")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		exprs := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			exprs = v.Content
		}
		for _, e := range exprs {
			if e.Kind != yaml.ScalarNode {
				return &spec.FieldError{Line: e.Line, Field: "thresholds." + k.Value, Msg: "want an expression string"}
			}
			t, err := ParseThreshold(k.Value, e.Value)
			if err != nil {
				return &spec.FieldError{Line: e.Line, Field: "thresholds." + k.Value, Msg: err.Error()}
			}
			t.Line = e.Line
			*ts = append(*ts, t)
		}
	}
	return nil
}

package loadgen

import (
	"fmt"
	"strconv"
	"time"
)

// ThresholdResult is one threshold checked against a run.
type ThresholdResult struct {
	Threshold
	Got   string // measured value, formatted
	Bound string // the bound it was compared with, formatted
	Pass  bool
	Note  string // why it could not be evaluated, if so
}

// Check evaluates every threshold against the analysis.
func (a *Analysis) Check(ts Thresholds) []ThresholdResult {
	out := make([]ThresholdResult, 0, len(ts))
	for _, t := range ts {
		out = append(out, a.check(t))
	}
	return out
}

// Passed reports whether every result passed.
func Passed(rs []ThresholdResult) bool {
	for _, r := range rs {
		if !r.Pass {
			return false
		}
	}
	return true
}

func (a *Analysis) check(t Threshold) ThresholdResult {
	r := ThresholdResult{Threshold: t}
	if t.Agg == "outcome" {
		if a.Deploy == nil {
			r.Note = "no deploy in this run"
			return r
		}
		r.Got, r.Bound = a.Deploy.Outcome, t.Word
		r.Pass = (a.Deploy.Outcome == t.Word) == (t.Op == "==")
		return r
	}
	got, err := a.value(t, t.Phase)
	if err != nil {
		r.Note = err.Error()
		return r
	}
	bound := t.Value
	if t.Factor > 0 {
		base, err := a.value(t, "before")
		if err != nil {
			r.Note = "baseline: " + err.Error()
			return r
		}
		bound = t.Factor * base
		r.Bound = fmt.Sprintf("%s (%gx %s)", t.format(bound), t.Factor, t.format(base))
	} else {
		r.Bound = t.format(bound)
	}
	r.Got, r.Pass = t.format(got), t.Compare(got, bound)
	return r
}

// value measures the threshold's metric and aggregate in one phase.
func (a *Analysis) value(t Threshold, phase string) (float64, error) {
	if t.Metric == "deploy" {
		if a.Deploy == nil || len(a.Deploy.Events) == 0 {
			return 0, fmt.Errorf("no deploy events in this run")
		}
		return a.Deploy.Duration().Seconds(), nil
	}
	if t.Metric == "canary" {
		return a.canaryValue(t.Agg)
	}
	if t.Metric == "resources" {
		return a.resourceValue(t.Agg)
	}
	if t.Metric == "deploys" {
		if a.Series == nil {
			return 0, fmt.Errorf("no series of deploys in this run")
		}
		return a.Series.value(t.Agg)
	}
	s, ok := a.Phase(phase)
	if !ok {
		return 0, fmt.Errorf("the run has no %s phase", phase)
	}
	switch t.Metric {
	case "http_req_failed":
		if t.Agg == "count" {
			return float64(s.Failed), nil
		}
		return s.FailedRate(), nil
	case "http_reqs":
		if t.Agg == "count" {
			return float64(s.Requests), nil
		}
		if s.Seconds() <= 0 {
			return 0, fmt.Errorf("phase %s is empty", s.Name)
		}
		return float64(s.Requests) / s.Seconds(), nil
	case "ttft":
		if s.TTFT.N == 0 {
			return 0, fmt.Errorf("no streamed tokens in phase %s", s.Name)
		}
		return s.TTFT.Get(t.Agg).Seconds(), nil
	}
	if s.Latency.N == 0 {
		return 0, fmt.Errorf("no requests in phase %s", s.Name)
	}
	return s.Latency.Get(t.Agg).Seconds(), nil
}

// format writes a value in the threshold's unit.
func (t Threshold) format(v float64) string {
	switch {
	case t.isDuration():
		return time.Duration(v * float64(time.Second)).Round(time.Millisecond).String()
	case t.Metric == "http_req_failed" && t.Agg == "rate":
		return strconv.FormatFloat(v*100, 'f', 2, 64) + "%"
	case t.Metric == "http_reqs" && t.Agg == "rate":
		return strconv.FormatFloat(v, 'f', 2, 64) + "/s"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// resourceValue is a resources threshold's aggregate: how many process
// readings grow (memory, open files, goroutines, nginx workers, model
// servers), or the state directory's growth in MiB per hour.
func (a *Analysis) resourceValue(agg string) (float64, error) {
	if len(a.Trends) == 0 {
		return 0, fmt.Errorf("no resource samples in this run (the scenario needs sampling)")
	}
	n := 0.0
	for _, t := range a.Trends {
		switch {
		case t.Name == TrendDisk && agg == "disk_mib_per_hour":
			return t.SlopePerHour / (1 << 20), nil
		case t.Name != TrendDisk && t.Grows:
			n++
		}
	}
	return n, nil
}

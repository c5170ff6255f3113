package reports

import (
	"fmt"
	"path/filepath"

	"github.com/zero-downtime-ml/zdml/loadgen"
)

// Report is one scenario's run, analysed: what the markdown and the charts
// are made from. Every number in it is computed from the raw results and
// events of the run, never carried over from anywhere else.
type Report struct {
	Data       *loadgen.RunData
	Scenario   *loadgen.Scenario // nil when the run did not record it
	Analysis   *loadgen.Analysis
	Thresholds []loadgen.ThresholdResult
}

// New analyses a run and checks the thresholds of its scenario.
func New(d *loadgen.RunData) (*Report, error) {
	sc, err := d.Scenario()
	if err != nil {
		return nil, fmt.Errorf("report %s: scenario: %w", d.Dir, err)
	}
	r := &Report{Data: d, Scenario: sc, Analysis: loadgen.Analyze(d)}
	if sc != nil {
		r.Thresholds = r.Analysis.Check(sc.Thresholds)
	}
	return r, nil
}

// Load reads a run directory (or its results file) and analyses it.
func Load(path string) (*Report, error) {
	d, err := loadgen.ReadRun(path)
	if err != nil {
		return nil, err
	}
	return New(d)
}

// Name is the scenario's name.
func (r *Report) Name() string { return r.Data.Info.Scenario }

// Date is the day the run started, UTC.
func (r *Report) Date() string { return dateOf(r.Data.Info.Started) }

// BaseName is "<date>-<scenario>", the stem of the report's files.
func (r *Report) BaseName() string { return r.Date() + "-" + r.Name() }

// Passed reports whether the run completed and every threshold passed.
func (r *Report) Passed() bool {
	return r.Data.Info.Error == "" && loadgen.Passed(r.Thresholds)
}

// PassedCount is how many thresholds passed.
func (r *Report) PassedCount() int {
	n := 0
	for _, t := range r.Thresholds {
		if t.Pass {
			n++
		}
	}
	return n
}

// Outcome is the deploy's outcome, a series' count of each, or "no
// deploy".
func (r *Report) Outcome() string {
	if s := r.Analysis.Series; s != nil {
		out := fmt.Sprintf("%d succeeded, %d rolled back", s.Count(loadgen.ExpectSucceeded), s.Count(loadgen.ExpectRolledBack))
		if n := s.Unexpected(); n > 0 {
			out += fmt.Sprintf(", %d not as expected", n)
		}
		return out
	}
	if r.Analysis.Deploy == nil {
		return "no deploy"
	}
	return r.Analysis.Deploy.Outcome
}

// ChartNames are the chart files of the report, relative to the reports
// directory.
func (r *Report) ChartNames() (latency, rps string) {
	return filepath.ToSlash(filepath.Join("img", r.BaseName()+"-latency.png")),
		filepath.ToSlash(filepath.Join("img", r.BaseName()+"-rps.png"))
}

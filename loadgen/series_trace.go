package loadgen

import (
	"fmt"
	"time"
)

// SeriesTrace is a series of deploys as the reconciler's events show
// them, and the requests inside and outside their windows. A window is
// from a deploy's first step to its last; a request belongs to the window
// it started in.
type SeriesTrace struct {
	// Windows are the deploys in commit order, with Expect each.
	Windows []*DeployWindow
	Expect  []string
	// In is every request that started inside a window; Outside every
	// other one. Before is those before the first window (the baseline:
	// no deploy yet), Between those outside the windows from the first
	// window's start to the last one's end, After those after the last.
	In, Outside, Before, Between, After Stats
}

func seriesTrace(d *RunData, from, to time.Time) *SeriesTrace {
	s := &SeriesTrace{}
	for i, di := range d.Info.Deploys {
		until := to
		if i+1 < len(d.Info.Deploys) && !d.Info.Deploys[i+1].CommittedAt.IsZero() {
			until = d.Info.Deploys[i+1].CommittedAt
		}
		s.Windows = append(s.Windows, windowOf(di, d.Events, from, until))
		s.Expect = append(s.Expect, di.Expect)
	}
	first, last := to, to
	if len(s.Windows) > 0 {
		first, last = s.Windows[0].Start, s.Windows[len(s.Windows)-1].End
	}
	in := func(r Record) bool { return s.InWindow(r.Start) }
	out := func(r Record) bool { return !s.InWindow(r.Start) }
	for _, w := range s.Windows {
		w.Stats = NewStats("deploy", d.Records, w.Start, w.End)
	}
	s.In = NewStatsWhere("deploy", d.Records, first, last, in)
	s.Outside = NewStatsWhere("outside", d.Records, from, to, out)
	s.Before = NewStats("before", d.Records, from, first)
	s.Between = NewStatsWhere("between", d.Records, first, last, out)
	s.After = NewStats("after", d.Records, last, to)
	return s
}

// InWindow reports whether t falls inside a deploy's window.
func (s *SeriesTrace) InWindow(t time.Time) bool {
	for _, w := range s.Windows {
		if !t.Before(w.Start) && t.Before(w.End) {
			return true
		}
	}
	return false
}

// phases are the series' time-ordered phases: before, between, after.
func (s *SeriesTrace) phases() []Stats {
	var out []Stats
	for _, p := range []Stats{s.Before, s.Between, s.After} {
		if p.To.After(p.From) {
			out = append(out, p)
		}
	}
	return out
}

// Count is how many deploys ended with outcome ("" counts them all).
func (s *SeriesTrace) Count(outcome string) int {
	n := 0
	for _, w := range s.Windows {
		if outcome == "" || w.Outcome == outcome {
			n++
		}
	}
	return n
}

// Unexpected is how many deploys did not end as they were expected to.
func (s *SeriesTrace) Unexpected() int {
	n := 0
	for i, w := range s.Windows {
		if w.Outcome != s.Expect[i] {
			n++
		}
	}
	return n
}

// WindowTime is the summed length of the windows.
func (s *SeriesTrace) WindowTime() time.Duration {
	var d time.Duration
	for _, w := range s.Windows {
		d += w.Duration()
	}
	return d
}

// value is a deploys threshold's aggregate.
func (s *SeriesTrace) value(agg string) (float64, error) {
	switch agg {
	case "count":
		return float64(s.Count("")), nil
	case "succeeded", "rolled_back":
		return float64(s.Count(agg)), nil
	case "unexpected":
		return float64(s.Unexpected()), nil
	}
	return 0, fmt.Errorf("deploys has no aggregate %q", agg)
}

package loadgen

import (
	"sort"
	"time"
)

// Analysis is a run cut into phases by the reconciler's step events, with
// the statistics of each.
type Analysis struct {
	Start, End time.Time
	All        Stats
	// Phases are the non-empty windows in time order: before, warmup,
	// quality, canary, swap, drain, rollback, after (a run without a deploy
	// has only before).
	Phases []Stats
	// Deploy is nil for a run without a deploy.
	Deploy *DeployWindow
	// Canary is the canary's weights and analysis windows, for a canary
	// deploy (nil otherwise).
	Canary *CanaryTrace
	// Series is the deploys of a run that made a series of them (a
	// storm, a soak); Deploy is nil then.
	Series *SeriesTrace
	// Trends are the resource samples' trends, for a run with sampling.
	Trends []Trend
}

// DeployWindow is the deploy as the events show it.
type DeployWindow struct {
	Commit      string
	CommittedAt time.Time
	// Start and End are the deploy's first and last step events.
	Start, End time.Time
	// WarmEnd is when the standby passed warm-up; SwapStart when the swap
	// began (zero when it never did).
	WarmEnd, SwapStart time.Time
	// PromoteStart is, for a prewarm (the reconciler records the prewarm,
	// then runs the promote), the first step of the promote; zero otherwise.
	PromoteStart time.Time
	Outcome      string
	Reason       string
	Events       []Event
	Stats        Stats
}

// Duration is from the deploy's first step to its last.
func (w *DeployWindow) Duration() time.Duration { return w.End.Sub(w.Start) }

// Analyze computes the phases and statistics of a run.
func Analyze(d *RunData) *Analysis {
	a := &Analysis{Start: d.Info.Started, End: d.Info.Ended}
	if a.Start.IsZero() || a.End.IsZero() {
		a.Start, a.End = span(d.Records)
	}
	end := a.End.Add(time.Nanosecond)
	a.All = NewStats("all", d.Records, a.Start, end)
	if len(d.Samples) > 0 {
		a.Trends = Trends(d.Samples, a.Start, a.End)
	}
	if len(d.Info.Deploys) > 0 {
		a.Series = seriesTrace(d, a.Start, end)
		a.Phases = a.Series.phases()
		return a
	}
	a.Deploy = deployWindow(d, a.Start, end)
	for _, p := range phaseWindows(a.Start, end, a.Deploy) {
		a.Phases = append(a.Phases, NewStats(p.name, d.Records, p.from, p.to))
	}
	if a.Deploy != nil {
		a.Deploy.Stats = NewStats("deploy", d.Records, a.Deploy.Start, a.Deploy.End)
		a.Canary = canaryTrace(a.Deploy, d.Records, end)
	}
	return a
}

// Phase returns a phase's statistics by name ("deploy" and "all" too).
func (a *Analysis) Phase(name string) (Stats, bool) {
	switch {
	case name == "" || name == "all":
		return a.All, true
	case name == "deploy" && a.Deploy != nil:
		return a.Deploy.Stats, true
	case name == "deploy" && a.Series != nil:
		return a.Series.In, true
	case name == "outside" && a.Series != nil:
		return a.Series.Outside, true
	}
	for _, p := range a.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return Stats{}, false
}

func span(recs []Record) (time.Time, time.Time) {
	var from, to time.Time
	for i, r := range recs {
		if i == 0 || r.Start.Before(from) {
			from = r.Start
		}
		if r.End().After(to) {
			to = r.End()
		}
	}
	return from, to
}

// deployWindow is the run's one deploy, or nil.
func deployWindow(d *RunData, from, to time.Time) *DeployWindow {
	if d.Info.Deploy == nil {
		return nil
	}
	return windowOf(d.Info.Deploy, d.Events, from, to)
}

// windowOf picks the events of one deploy: those of the deploy ids that
// mention its commit, or failing that every deploy event in [from, to)
// after the commit.
func windowOf(di *DeployInfo, events []Event, from, to time.Time) *DeployWindow {
	w := &DeployWindow{Commit: di.Commit, CommittedAt: di.CommittedAt}
	ids := map[string]bool{}
	for _, e := range events {
		if e.Commit != "" && di.Commit != "" && sameCommit(e.Commit, di.Commit) && e.DeployID != "" {
			ids[e.DeployID] = true
		}
	}
	for _, e := range events {
		if e.Step == StepSelfHeal || e.Time.Before(from) || !e.Time.Before(to) {
			continue
		}
		if len(ids) > 0 && !ids[e.DeployID] || len(ids) == 0 && e.Time.Before(di.CommittedAt) {
			continue
		}
		w.Events = append(w.Events, e)
	}
	sort.SliceStable(w.Events, func(i, j int) bool { return w.Events[i].Time.Before(w.Events[j].Time) })
	w.Outcome = outcomeOf(di, w.Events)
	if di.Outcome != nil {
		w.Reason = di.Outcome.Reason
	}
	if len(w.Events) == 0 {
		w.Start, w.End = di.CommittedAt, di.CommittedAt
		return w
	}
	w.Start, w.End = w.Events[0].Time, w.Events[len(w.Events)-1].Time
	w.WarmEnd = firstEvent(w.Events, StepWarmup, PhaseEnd)
	w.SwapStart = firstEvent(w.Events, StepSwap, PhaseStart)
	w.PromoteStart = promoteStart(w.Events)
	return w
}

// promoteStart is the first preflight that follows a recorded end: the
// promote after a prewarm, whether or not it has a deploy id of its own.
func promoteStart(evs []Event) time.Time {
	recorded := false
	for _, e := range evs {
		switch {
		case e.Step == StepRecord && e.Phase == PhaseEnd:
			recorded = true
		case recorded && e.Step == StepPreflight && e.Phase == PhaseStart:
			return e.Time
		}
	}
	return time.Time{}
}

func outcomeOf(di *DeployInfo, evs []Event) string {
	if di.Outcome != nil && di.Outcome.Result != "" {
		return di.Outcome.Result
	}
	switch {
	case !firstEvent(evs, StepRollback, PhaseEnd).IsZero():
		return ExpectRolledBack
	case !firstEvent(evs, StepRecord, PhaseEnd).IsZero():
		return ExpectSucceeded
	case len(evs) > 0:
		return "unfinished"
	}
	return "not started"
}

func firstEvent(evs []Event, step, phase string) time.Time {
	for _, e := range evs {
		if e.Step == step && e.Phase == phase {
			return e.Time
		}
	}
	return time.Time{}
}

func lastEvent(evs []Event, step, phase string) time.Time {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Step == step && evs[i].Phase == phase {
			return evs[i].Time
		}
	}
	return time.Time{}
}

type window struct {
	name     string
	from, to time.Time
}

// phaseWindows cuts [from, to) at the deploy's steps: before until its
// first event, warmup until the quality gate, the swap (or rollback),
// quality (the output-quality gate) until the swap, swap until the drain,
// drain until it ends, rollback while it runs, after from the end of the
// drain (or the rollback, or the deploy).
func phaseWindows(from, to time.Time, w *DeployWindow) []window {
	if w == nil || len(w.Events) == 0 {
		return []window{{"before", from, to}}
	}
	evs := w.Events
	marks := []window{{name: "before", from: from}, {name: "warmup", from: w.Start}}
	add := func(name string, t time.Time) {
		if !t.IsZero() {
			marks = append(marks, window{name: name, from: t})
		}
	}
	add("quality", firstEvent(evs, StepQuality, PhaseStart))
	add("canary", firstEvent(evs, StepCanary, PhaseStart))
	add("swap", w.SwapStart)
	add("drain", firstEvent(evs, StepDrain, PhaseStart))
	rb := firstEvent(evs, StepRollback, PhaseStart)
	add("rollback", rb)
	after := w.End
	if de := lastDrainEnd(evs); !de.IsZero() && rb.IsZero() {
		after = de
	}
	add("after", after)
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].from.Before(marks[j].from) })
	var out []window
	for i, m := range marks {
		m.to = to
		if i+1 < len(marks) {
			m.to = marks[i+1].from
		}
		if m.to.After(m.from) {
			out = append(out, m)
		}
	}
	return out
}

func lastDrainEnd(evs []Event) time.Time {
	if t := lastEvent(evs, StepDrain, PhaseEnd); !t.IsZero() {
		return t
	}
	return lastEvent(evs, StepDrain, PhaseFail)
}

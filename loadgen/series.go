package loadgen

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Series is a run of deploys one after another under the same traffic: a
// deploy storm (back to back) or a soak (one every few minutes). Each
// deploy commits the model of Models that follows the one serving, so the
// versions alternate; every Broken.Every-th deploy commits the broken
// model instead, which must roll back.
type Series struct {
	// At is when the first commit is made, after traffic starts: the
	// requests before it are the run's baseline.
	At spec.Duration `yaml:"at"`
	// Count is how many deploys; 0 is as many as Every fits into
	// load.duration.
	Count int `yaml:"count"`
	// Every is the time from one commit to the next. 0 is back to back:
	// each commit follows the end of the deploy before it, after Gap.
	Every spec.Duration `yaml:"every"`
	// Gap is the least time between a deploy's end and the next commit.
	Gap spec.Duration `yaml:"gap"`
	// Models are the versions the deploys alternate between (at least 2,
	// or 1 besides the stack's model).
	Models []spec.Model `yaml:"models"`
	// Strategy is spec.strategy.type of every commit: bluegreen or prewarm.
	Strategy string `yaml:"strategy"`
	// Broken, when set, makes every Every-th deploy a model that must fail
	// its gates and roll back.
	Broken *BrokenDeploys `yaml:"broken"`
	// Timeout bounds each deploy.
	Timeout spec.Duration `yaml:"timeout"`
	// After is how long traffic continues after the last deploy.
	After spec.Duration `yaml:"after"`
}

// BrokenDeploys is the faulty commit a series makes now and then.
type BrokenDeploys struct {
	Every int        `yaml:"every"`
	Model spec.Model `yaml:"model"`
}

func (s *Series) setDefaults(stack spec.Model) {
	for i := range s.Models {
		if s.Models[i].Name == "" {
			s.Models[i].Name = stack.Name
		}
	}
	if b := s.Broken; b != nil && b.Model.Name == "" {
		b.Model.Name = stack.Name
	}
	if s.Strategy == "" {
		s.Strategy = spec.StrategyBlueGreen
	}
	if s.Timeout.Duration == 0 {
		s.Timeout.Duration = DefaultDeployBy
	}
	if s.After.Duration == 0 {
		s.After.Duration = DefaultAfter
	}
}

func (v *scenarioValidator) series(sc *Scenario, s *Series) {
	if sc.Deploy != nil {
		v.fail("series", "set deploy or series, not both")
	}
	if s.At.Duration >= sc.Load.Duration.Duration {
		v.fail("series.at", "%s is not before the end of the traffic (load.duration %s)", s.At.Duration, sc.Load.Duration.Duration)
	}
	switch {
	case s.Count < 0:
		v.fail("series.count", "want 0 (as many as fit) or more, got %d", s.Count)
	case s.Count == 0 && s.Every.Duration <= 0:
		v.fail("series.count", "set a count, or every: how many fit in load.duration is unknown back to back")
	}
	if s.Every.Duration < 0 || s.Gap.Duration < 0 {
		v.fail("series.every", "every and gap are durations of 0 or more")
	}
	for i, m := range s.Models {
		v.model(fmt.Sprintf("series.models[%d]", i), m)
	}
	if distinct := s.Versions(sc.Stack.Model); len(distinct) < 2 {
		v.fail("series.models", "want versions to alternate between: at least one besides the stack's %s", sc.Stack.Model.Version)
	}
	if s.Strategy != spec.StrategyBlueGreen && s.Strategy != spec.StrategyPrewarm {
		v.fail("series.strategy", "want bluegreen or prewarm, got %q", s.Strategy)
	}
	if b := s.Broken; b != nil {
		v.model("series.broken.model", b.Model)
		if b.Every < 1 {
			v.fail("series.broken.every", "want 1 or more (every Nth deploy is broken), got %d", b.Every)
		}
	}
}

// Versions lists the versions the series moves between after the stack's
// (stack's own first), each once.
func (s *Series) Versions(stack spec.Model) []string {
	out := []string{stack.Version}
	for _, m := range s.Models {
		if !slices.Contains(out, m.Version) {
			out = append(out, m.Version)
		}
	}
	return out
}

// Plan lists the series' deploys for traffic of length d starting from
// the stack's model. Deploy.At is the earliest moment of each commit (0
// back to back: right after the deploy before it). A broken deploy's
// version gets its number ("broken-7"), so that each is a new spec and not
// the one quarantined by the last.
func (s *Series) Plan(stack spec.Model, d time.Duration) []*Deploy {
	n := s.Count
	if n == 0 {
		n = int((d-s.At.Duration-1)/s.Every.Duration) + 1
	}
	serving := stack
	out := make([]*Deploy, 0, n)
	for i := 1; i <= n; i++ {
		dep := &Deploy{Strategy: s.Strategy, Expect: ExpectSucceeded, Timeout: s.Timeout, After: s.After}
		dep.At.Duration = s.At.Duration + time.Duration(i-1)*s.Every.Duration
		if b := s.Broken; b != nil && i%b.Every == 0 {
			dep.Model, dep.Expect = b.Model, ExpectRolledBack
			dep.Model.Version += "-" + strconv.Itoa(i)
		} else {
			dep.Model = s.next(serving)
			serving = dep.Model
		}
		out = append(out, dep)
	}
	return out
}

// next is the model after the serving one in Models (the first when the
// serving one is not listed), skipping any of the serving version.
func (s *Series) next(serving spec.Model) spec.Model {
	i := slices.IndexFunc(s.Models, func(m spec.Model) bool { return m.Version == serving.Version })
	for k := 1; k <= len(s.Models); k++ {
		m := s.Models[(i+k+len(s.Models))%len(s.Models)]
		if m.Version != serving.Version {
			return m
		}
	}
	return s.Models[0]
}

package loadgen

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Scenario defaults, applied to fields a scenario leaves out.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultMaxTokens = 16
	DefaultUsers     = 8
	DefaultModelName = "demo"
	DefaultDeployBy  = 180 * time.Second
	DefaultAfter     = 10 * time.Second
)

func (s *Scenario) setDefaults() {
	l := &s.Load
	if l.Timeout.Duration == 0 {
		l.Timeout.Duration = DefaultTimeout
	}
	if l.MaxTokens == 0 {
		l.MaxTokens = DefaultMaxTokens
	}
	if l.Users == 0 {
		l.Users = DefaultUsers
	}
	if len(l.Mix) == 0 {
		for _, k := range Kinds {
			l.Mix = append(l.Mix, Mix{Kind: k, Weight: 1})
		}
	}
	if s.Stack.Model.Name == "" {
		s.Stack.Model.Name = DefaultModelName
	}
	if s.Series != nil {
		s.Series.setDefaults(s.Stack.Model)
	}
	if s.Sampling != nil && s.Sampling.Every.Duration == 0 {
		s.Sampling.Every.Duration = DefaultSampleEvery
	}
	if d := s.Deploy; d != nil {
		if d.Model.Name == "" {
			d.Model.Name = s.Stack.Model.Name
		}
		if d.Strategy == "" {
			d.Strategy = spec.StrategyBlueGreen
		}
		if d.Expect == "" {
			d.Expect = ExpectSucceeded
		}
		if d.Timeout.Duration == 0 {
			d.Timeout.Duration = DefaultDeployBy
		}
		if d.After.Duration == 0 {
			d.After.Duration = DefaultAfter
		}
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// validate returns every problem, each naming its field.
func (s *Scenario) validate() spec.Errors {
	v := &scenarioValidator{}
	if !nameRE.MatchString(s.Name) {
		v.fail("name", "want lowercase letters, digits and dashes, got %q", s.Name)
	}
	v.model("stack.model", s.Stack.Model)
	if s.Stack.Model.Version != "" && s.Stack.Model.Path != "" {
		if _, err := InitialDesired(s.Stack, spec.RuntimeProcess, ""); err != nil {
			v.fail("stack", "%v", err)
		}
	}
	v.load(s.Load)
	if d := s.Deploy; d != nil {
		v.deploy(s, d)
	}
	if sr := s.Series; sr != nil {
		v.series(s, sr)
	}
	if sm := s.Sampling; sm != nil && sm.Every.Duration < 100*time.Millisecond {
		v.fail("sampling.every", "want at least 100ms, got %s", sm.Every.Duration)
	}
	for _, t := range s.Thresholds {
		switch {
		case !s.HasDeploys() && (t.Phase != "" && t.Phase != "before" || t.Metric == "deploy" || t.Metric == "deploys"):
			v.failAt(t.Line, "thresholds", "%q needs a deploy, and this scenario has none", t.Text)
		case s.Series != nil && t.Metric == "deploy":
			v.failAt(t.Line, "thresholds", "%q: a series has many deploys; use deploys (count, succeeded, rolled_back, unexpected)", t.Text)
		case s.Sampling == nil && t.Metric == "resources":
			v.failAt(t.Line, "thresholds", "%q needs sampling (e.g. sampling: {every: 5s})", t.Text)
		case s.Series == nil && t.Metric == "deploys":
			v.failAt(t.Line, "thresholds", "%q applies to a series of deploys; use deploy", t.Text)
		}
	}
	return v.errs
}

type scenarioValidator struct{ errs spec.Errors }

func (v *scenarioValidator) fail(field, format string, args ...any) {
	v.errs = append(v.errs, &spec.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *scenarioValidator) failAt(line int, field, format string, args ...any) {
	v.errs = append(v.errs, &spec.FieldError{Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *scenarioValidator) model(field string, m spec.Model) {
	if m.Version == "" {
		v.fail(field+".version", "required")
	}
	if m.Path == "" {
		v.fail(field+".path", "required")
	}
}

func (v *scenarioValidator) load(l Load) {
	switch {
	case l.Rate.Freq == 0 && l.Concurrency == 0:
		v.fail("load", "set rate (e.g. \"4/s\") or concurrency")
	case l.Rate.Freq != 0 && l.Concurrency != 0:
		v.fail("load.concurrency", "set rate or concurrency, not both")
	case l.Concurrency < 0 || l.Concurrency > 1000:
		v.fail("load.concurrency", "want 1 to 1000, got %d", l.Concurrency)
	}
	if l.Duration.Duration <= 0 {
		v.fail("load.duration", "required, e.g. 60s")
	}
	if l.MaxTokens < 1 || l.MaxTokens > 512 {
		v.fail("load.maxTokens", "want 1 to 512, got %d", l.MaxTokens)
	}
	if l.Users < 1 {
		v.fail("load.users", "want at least 1, got %d", l.Users)
	}
	for i, m := range l.Mix {
		if !slices.Contains(Kinds, m.Kind) {
			v.fail(fmt.Sprintf("load.mix[%d].kind", i), "unknown kind %q (known: chat, chat_user, completions, completions_stream)", m.Kind)
		}
		if m.Weight < 1 {
			v.fail(fmt.Sprintf("load.mix[%d].weight", i), "want a positive weight, got %d", m.Weight)
		}
		if m.MaxTokens < 0 || m.MaxTokens > 512 {
			v.fail(fmt.Sprintf("load.mix[%d].maxTokens", i), "want 1 to 512, got %d", m.MaxTokens)
		}
	}
}

func (v *scenarioValidator) deploy(s *Scenario, d *Deploy) {
	v.model("deploy.model", d.Model)
	if d.At.Duration >= s.Load.Duration.Duration {
		v.fail("deploy.at", "%s is not before the end of the traffic (load.duration %s)", d.At.Duration, s.Load.Duration.Duration)
	}
	if d.Model.Version == s.Stack.Model.Version && d.Model.Path == s.Stack.Model.Path {
		v.fail("deploy.model", "is the stack's model already: nothing would deploy")
	}
	switch d.Strategy {
	case spec.StrategyBlueGreen, spec.StrategyPrewarm, spec.StrategyCanary:
	default:
		v.fail("deploy.strategy", "want bluegreen, prewarm or canary, got %q", d.Strategy)
	}
	if d.Canary != nil && d.Strategy != spec.StrategyCanary {
		v.fail("deploy.canary", "applies only to strategy canary")
	}
	v.quality(s, d)
	if d.Expect != ExpectSucceeded && d.Expect != ExpectRolledBack {
		v.fail("deploy.expect", "want succeeded or rolled_back, got %q", d.Expect)
	}
}

// quality checks deploy.quality as the reconciler will read it: the
// stack's desired.yaml edited by the deploy must be valid.
func (v *scenarioValidator) quality(s *Scenario, d *Deploy) {
	q := d.Quality
	if q == nil {
		return
	}
	if q.HeldOut != "" {
		v.fail("deploy.quality.heldOut", "leave it out (the default held-out text): the stack's repository holds desired.yaml only")
		return
	}
	start, err := InitialDesired(s.Stack, spec.RuntimeProcess, "")
	if err != nil {
		return // the stack's own errors are reported where they are
	}
	if _, err := EditDesired("desired.yaml", start, DesiredChange{Model: d.Model, Strategy: d.Strategy, Quality: q}); err != nil {
		v.fail("deploy.quality", "%v", err)
	}
}

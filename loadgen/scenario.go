package loadgen

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Scenario is one load test, declared in a YAML file under loadgen/scenarios/:
// the stack it starts from, the traffic it sends, the deploy it commits
// while the traffic runs, and the thresholds the run must pass.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Seed is the original design's measured row this scenario reproduces,
	// printed beside our numbers in reports/latest.md.
	Seed *SeedRow `yaml:"seed"`
	// Stack is the desired state the stack starts from.
	Stack StackSpec `yaml:"stack"`
	Load  Load      `yaml:"load"`
	// Deploy is the commit made during the run; nil for a baseline.
	Deploy *Deploy `yaml:"deploy"`
	// Series is a run of deploys one after another (a storm, a soak),
	// instead of one Deploy.
	Series *Series `yaml:"series"`
	// Sampling, when set, samples the stack's processes and state
	// directory through the run (memory, file descriptors, goroutines,
	// process counts, disk): what a soak judges.
	Sampling   *Sampling  `yaml:"sampling"`
	Thresholds Thresholds `yaml:"thresholds"`

	// File is where the scenario was read from ("" when built in code).
	File string `yaml:"-"`
}

// SeedRow is a row of the original design's results table, quoted verbatim.
type SeedRow struct {
	Row      string `yaml:"row"`
	Duration string `yaml:"duration"`
	Failed   string `yaml:"failed"`
	Outcome  string `yaml:"outcome"`
}

// StackSpec is the desired.yaml the managed stack starts with; the deploy
// changes only its model, so the resources and gates hold for both colors.
// Fields left out take the spec's defaults.
type StackSpec struct {
	Model     spec.Model     `yaml:"model"`
	Resources spec.Resources `yaml:"resources"`
	// DrainTimeout bounds the old color's drain (spec.strategy.drainTimeout).
	DrainTimeout spec.Duration `yaml:"drainTimeout"`
	// ReadyTimeout bounds the standby's load (spec.strategy.readyTimeout).
	ReadyTimeout spec.Duration `yaml:"readyTimeout"`
	// Warmup is the warm-up gate (spec.warmup): prompts, maxLatency, maxTokens.
	Warmup spec.Warmup `yaml:"warmup"`
}

// Request kinds, the values of Mix.Kind.
const (
	KindChat       = "chat"               // POST /chat
	KindChatUser   = "chat_user"          // POST /chat/{user_id}
	KindCompletion = "completions"        // POST /v1/chat/completions
	KindStream     = "completions_stream" // POST /v1/chat/completions with stream: true
)

// Kinds lists every request kind in report order.
var Kinds = []string{KindChat, KindChatUser, KindCompletion, KindStream}

// Load is the traffic: open-loop at Rate, or closed-loop with Concurrency
// clients each sending its next request when the last one ends.
type Load struct {
	Rate        Rate          `yaml:"rate"`
	Concurrency int           `yaml:"concurrency"`
	Duration    spec.Duration `yaml:"duration"`
	// Timeout is the per-request timeout; a request that takes longer fails.
	Timeout   spec.Duration `yaml:"timeout"`
	MaxTokens int           `yaml:"maxTokens"`
	// Users is how many distinct user ids /chat/{user_id} cycles through.
	Users   int      `yaml:"users"`
	Prompts []string `yaml:"prompts"`
	Mix     []Mix    `yaml:"mix"`
}

// Mix is one kind of request and its relative weight. MaxTokens, when
// set, replaces load.maxTokens for this entry: a mix can hold short
// requests and long streams of the same kind.
type Mix struct {
	Kind      string `yaml:"kind"`
	Weight    int    `yaml:"weight"`
	MaxTokens int    `yaml:"maxTokens"`
}

// Tokens is the max_tokens of this entry's requests under load l.
func (m Mix) Tokens(l Load) int {
	if m.MaxTokens > 0 {
		return m.MaxTokens
	}
	return l.MaxTokens
}

// Deploy strategies a scenario may commit.
const (
	ExpectSucceeded  = "succeeded"
	ExpectRolledBack = "rolled_back"
)

// Deploy is the desired.yaml change committed during the run.
type Deploy struct {
	// At is when, after the traffic starts, the commit is made.
	At    spec.Duration `yaml:"at"`
	Model spec.Model    `yaml:"model"`
	// Strategy is spec.strategy.type for the commit: bluegreen, prewarm or canary.
	Strategy string `yaml:"strategy"`
	// Canary is the canary's steps, analysis and stickiness, for strategy
	// canary (spec.strategy's own fields; left out, the spec's defaults).
	Canary *CanaryPlan `yaml:"canary"`
	// Quality is spec.quality for the commit: the output-quality gate the
	// new version must pass before it gets traffic (nil: no gate). Its
	// heldOut must be left out (the default text): the stack's repository
	// holds desired.yaml only.
	Quality *spec.Quality `yaml:"quality"`
	// Expect is the outcome the run must end with: succeeded or rolled_back.
	Expect string `yaml:"expect"`
	// Timeout bounds the deploy; the run fails if it has not finished by then.
	Timeout spec.Duration `yaml:"timeout"`
	// After is how long traffic continues once the deploy has finished, so
	// that the new color is measured too. The run lasts at least
	// Load.Duration and at least until the deploy's end plus After.
	After spec.Duration `yaml:"after"`
}

// LoadScenario reads and validates one scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return ParseScenario(path, data)
}

// ParseScenario decodes data strictly (unknown fields, wrong types and
// duplicate keys are errors), applies defaults and validates the result.
// Every error names the file, the line and the field.
func ParseScenario(filename string, data []byte) (*Scenario, error) {
	s := &Scenario{}
	lines, err := spec.Decode(filename, data, s)
	if err != nil {
		return nil, err
	}
	s.File = filename
	s.setDefaults()
	if errs := s.validate(); len(errs) > 0 {
		for _, e := range errs {
			e.File = filename
			if e.Line == 0 {
				e.Line = lineOf(lines, e.Field)
			}
		}
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return s, nil
}

// lineOf finds the line of field, or of its nearest written parent.
func lineOf(lines map[string]int, field string) int {
	for f := field; f != ""; f = parentField(f) {
		if l, ok := lines[f]; ok {
			return l
		}
	}
	return 0
}

func parentField(f string) string {
	if i := strings.LastIndexAny(f, ".["); i > 0 {
		return f[:i]
	}
	return ""
}

// LoadScenarios reads every *.yaml file in dir, sorted by name.
func LoadScenarios(dir string) ([]*Scenario, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("scenario: no *.yaml files in %s", dir)
	}
	sort.Strings(paths)
	out := make([]*Scenario, 0, len(paths))
	for _, p := range paths {
		s, err := LoadScenario(p)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// WithDuration returns a copy whose traffic lasts d, with the deploy moved
// to the same fraction of the run. DURATION= on the Makefile uses it. A
// series keeps its start (its baseline) unless d ends before it; its
// deploys then fit in d (a count of 0) or run past it (a fixed count).
func (s *Scenario) WithDuration(d time.Duration) *Scenario {
	c := *s
	scaled := func(at time.Duration) spec.Duration {
		frac := float64(at) / float64(s.Load.Duration.Duration)
		return spec.Duration{Duration: time.Duration(frac * float64(d)).Round(time.Second)}
	}
	if s.Deploy != nil {
		dep := *s.Deploy
		dep.At = scaled(s.Deploy.At.Duration)
		c.Deploy = &dep
	}
	if s.Series != nil && s.Series.At.Duration >= d {
		ser := *s.Series
		ser.At = scaled(s.Series.At.Duration)
		c.Series = &ser
	}
	c.Load.Duration = spec.Duration{Duration: d}
	return &c
}

// HasDeploys reports whether the scenario deploys (once or in a series).
func (s *Scenario) HasDeploys() bool { return s.Deploy != nil || s.Series != nil }

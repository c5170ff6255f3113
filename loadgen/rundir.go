package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
)

// Files of a run directory (reports/runs/<date>-<scenario>/).
const (
	ResultsFile = "results.bin" // vegeta gob: `vegeta report results.bin` works
	EventsFile  = "events.jsonl"
	RunFile     = "run.json"
)

// RunInfo is run.json: what ran, when, against what, and how the deploy
// ended. Everything else a report needs is in the results and events.
type RunInfo struct {
	Scenario string `json:"scenario"`
	// ScenarioYAML is the scenario file, so that thresholds can be checked
	// again later; Duration overrides its load.duration when set
	// (DURATION= on the Makefile).
	ScenarioYAML string    `json:"scenario_yaml,omitempty"`
	Duration     string    `json:"duration_override,omitempty"`
	ScenarioFile string    `json:"scenario_file,omitempty"`
	Command      string    `json:"command,omitempty"`
	Target       string    `json:"target"`
	Runtime      string    `json:"runtime,omitempty"`
	Started      time.Time `json:"started"`
	Ended        time.Time `json:"ended"`
	// Rate and Concurrency are the load as it ran.
	Rate        string      `json:"rate,omitempty"`
	Concurrency int         `json:"concurrency,omitempty"`
	Deploy      *DeployInfo `json:"deploy,omitempty"`
	// Deploys are the deploys of a series, in order (Deploy is nil then).
	Deploys []*DeployInfo `json:"deploys,omitempty"`
	// Sampled names the stack's processes the samples file follows.
	Sampled *SampledStack `json:"sampled,omitempty"`
	Env     *Environment  `json:"environment,omitempty"`
	// Error is set when the run itself went wrong (the deploy never
	// finished, the stack died).
	Error string `json:"error,omitempty"`
}

// DeployInfo is the deploy the run made.
type DeployInfo struct {
	Commit      string    `json:"commit"`
	CommittedAt time.Time `json:"committed_at"`
	FromVersion string    `json:"from_version,omitempty"`
	ToVersion   string    `json:"to_version"`
	Strategy    string    `json:"strategy"`
	Expect      string    `json:"expect,omitempty"`
	Outcome     *Outcome  `json:"outcome,omitempty"`
}

// WriteRunInfo writes run.json atomically.
func WriteRunInfo(dir string, info *RunInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, RunFile), append(b, '\n'), 0o644)
}

// ReadRunInfo reads run.json; a run directory without one (results copied
// by hand) gives a RunInfo named after the directory.
func ReadRunInfo(dir string) (*RunInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, RunFile))
	if errors.Is(err, os.ErrNotExist) {
		return &RunInfo{Scenario: filepath.Base(dir)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run info: %w", err)
	}
	var info RunInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("run info %s: %w", filepath.Join(dir, RunFile), err)
	}
	return &info, nil
}

// RunData is everything recorded of one run.
type RunData struct {
	Dir     string
	Info    *RunInfo
	Records []Record
	Events  []Event
	// Samples are the stack's resource samples, for a scenario with
	// sampling.
	Samples []Sample
}

// ReadRun reads a run directory, or the directory of a results file.
func ReadRun(path string) (*RunData, error) {
	dir, results := path, filepath.Join(path, ResultsFile)
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		dir, results = filepath.Dir(path), path
	}
	info, err := ReadRunInfo(dir)
	if err != nil {
		return nil, err
	}
	recs, err := ReadResults(results)
	if err != nil {
		return nil, err
	}
	evs, err := ReadEvents(filepath.Join(dir, EventsFile))
	if err != nil {
		return nil, err
	}
	smp, err := ReadSamples(filepath.Join(dir, SamplesFile))
	if err != nil {
		return nil, err
	}
	return &RunData{Dir: dir, Info: info, Records: recs, Events: evs, Samples: smp}, nil
}

// Scenario re-parses the scenario the run was made with, if recorded.
func (d *RunData) Scenario() (*Scenario, error) {
	if d.Info.ScenarioYAML == "" {
		return nil, nil
	}
	name := d.Info.ScenarioFile
	if name == "" {
		name = d.Info.Scenario + ".yaml"
	}
	s, err := ParseScenario(name, []byte(d.Info.ScenarioYAML))
	if err != nil || d.Info.Duration == "" {
		return s, err
	}
	du, err := time.ParseDuration(d.Info.Duration)
	if err != nil {
		return nil, fmt.Errorf("run info: duration_override: %w", err)
	}
	return s.WithDuration(du), nil
}

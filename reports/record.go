package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
	"github.com/zero-downtime-ml/zdml/loadgen"
)

// RecordVersion is the record format this code writes and reads.
const RecordVersion = 1

// Record is what latest.md says about one run, written beside its report
// as <date>-<scenario>.json. The raw results under reports/runs/ stay on the
// machine that made them; the record is small and committed with the
// report, so latest.md can be built from the newest record of every
// scenario however many commands, days or machines the runs came from.
// Every number in it was computed from the raw results of its run.
type Record struct {
	Version  int       `json:"version"`
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	// Seed is the original design's row the scenario reproduces.
	Seed *RecordSeed `json:"seed,omitempty"`
	// Model is what the run served and deployed: "demo v1 → v2, 117 MB".
	Model      string         `json:"model"`
	Duration   Timing         `json:"duration"`
	Requests   int            `json:"requests"`
	Failed     int            `json:"failed"`
	Outcome    string         `json:"outcome"`
	Thresholds ThresholdCount `json:"thresholds"`
	// RunError is set when the run itself went wrong.
	RunError string `json:"run_error,omitempty"`
	// Load is nil when the run did not record its scenario.
	Load *RecordLoad `json:"load,omitempty"`
	// Command is the command that reproduces the run (its first line).
	Command string               `json:"command,omitempty"`
	Runtime string               `json:"runtime,omitempty"`
	Env     *loadgen.Environment `json:"environment,omitempty"`
}

// RecordSeed is a row of the original design's results table.
type RecordSeed struct {
	Row      string `json:"row"`
	Duration string `json:"duration"`
	Failed   string `json:"failed"`
	Outcome  string `json:"outcome"`
}

// RecordLoad is the traffic a run sent: Rate (open loop) or Clients
// (closed loop) for Duration.
type RecordLoad struct {
	Rate      string `json:"rate,omitempty"`
	Clients   int    `json:"clients,omitempty"`
	Duration  string `json:"duration"`
	Mix       string `json:"mix"`
	MaxTokens int    `json:"max_tokens"`
	Timeout   string `json:"timeout"`
}

// ThresholdCount is how many of a run's thresholds passed.
type ThresholdCount struct {
	Passed int `json:"passed"`
	Total  int `json:"total"`
}

// String is "3/4 FAILED", "4/4 passed" or "none declared".
func (c ThresholdCount) String() string {
	if c.Total == 0 {
		return "none declared"
	}
	word := "passed"
	if c.Passed < c.Total {
		word = "FAILED"
	}
	return fmt.Sprintf("%d/%d %s", c.Passed, c.Total, word)
}

func (r *Report) thresholdCount() ThresholdCount {
	return ThresholdCount{Passed: r.PassedCount(), Total: len(r.Thresholds)}
}

// Record is the run as latest.md needs it.
func (r *Report) Record() *Record {
	a, info := r.Analysis, r.Data.Info
	rec := &Record{
		Version: RecordVersion, Scenario: r.Name(), Started: info.Started.UTC(),
		Model: modelCell(r), Duration: r.timing(), Requests: a.All.Requests, Failed: a.All.Failed,
		Outcome: r.Outcome(), Thresholds: r.thresholdCount(),
		RunError: info.Error, Command: firstCommand(info.Command), Runtime: info.Runtime, Env: info.Env,
	}
	if sc := r.Scenario; sc != nil {
		if s := sc.Seed; s != nil {
			rec.Seed = &RecordSeed{Row: s.Row, Duration: s.Duration, Failed: s.Failed, Outcome: s.Outcome}
		}
		rec.Load = loadRecord(sc.Load)
	}
	return rec
}

// modelCell names the model a run served and its file's size, and the
// version it deployed: "demo v1 → v2, 117 MB".
func modelCell(r *Report) string {
	sc := r.Scenario
	if sc == nil {
		return "–"
	}
	m := sc.Stack.Model
	cell := m.Name + " " + m.Version
	if d := sc.Deploy; d != nil {
		if d.Model.Name != m.Name {
			cell += " → " + d.Model.Name
		}
		cell += " → " + d.Model.Version
	}
	if s := sc.Series; s != nil {
		cell += " ⇄ " + strings.Join(s.Versions(m)[1:], " ⇄ ")
	}
	if env := r.Data.Info.Env; env != nil {
		for _, f := range env.Models {
			if f.Name == filepath.Base(m.Path) && f.Bytes > 0 {
				cell += ", " + decimalSize(f.Bytes)
			}
		}
	}
	return cell
}

func loadRecord(l loadgen.Load) *RecordLoad {
	out := &RecordLoad{Duration: l.Duration.String(), Mix: mixText(l), MaxTokens: l.MaxTokens, Timeout: l.Timeout.String()}
	if l.Concurrency > 0 {
		out.Clients = l.Concurrency
	} else {
		out.Rate = l.Rate.String()
	}
	return out
}

// BaseName is "<date>-<scenario>", the stem of the run's report.
func (rec *Record) BaseName() string { return dateOf(rec.Started) + "-" + rec.Scenario }

// Write writes the record to dir/<date>-<scenario>.json atomically and
// returns its path.
func (rec *Record) Write(dir string) (string, error) {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("record %s: %w", rec.BaseName(), err)
	}
	path := filepath.Join(dir, rec.BaseName()+".json")
	return path, atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadRecord reads a record written by Record.Write. A record that does
// not parse, has fields this version does not know, is of another version
// or is named for another run is an error naming the file.
func ReadRecord(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rec Record
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("record %s: %s", path, jsonError(b, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("record %s: line %d: data after the record", path, lineOf(b, dec.InputOffset()))
	}
	if err := rec.valid(filepath.Base(path)); err != nil {
		return nil, fmt.Errorf("record %s: %w", path, err)
	}
	return &rec, nil
}

func (rec *Record) valid(file string) error {
	switch {
	case rec.Version != RecordVersion:
		return fmt.Errorf("version %d, this zdml reads version %d (re-run the scenario to write a new one)", rec.Version, RecordVersion)
	case rec.Scenario == "":
		return errors.New("no scenario")
	case rec.Requests < 0 || rec.Failed < 0 || rec.Failed > rec.Requests:
		return fmt.Errorf("%d failed of %d requests", rec.Failed, rec.Requests)
	case rec.Thresholds.Passed < 0 || rec.Thresholds.Passed > rec.Thresholds.Total:
		return fmt.Errorf("%d of %d thresholds passed", rec.Thresholds.Passed, rec.Thresholds.Total)
	case file != rec.BaseName()+".json":
		return fmt.Errorf("holds the run of %s started %s, which is %s.json", rec.Scenario, rec.Started.Format(time.RFC3339), rec.BaseName())
	}
	return rec.Duration.valid()
}

// jsonError says where in b a decoding error is.
func jsonError(b []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("line %d: %v", lineOf(b, syn.Offset), err)
	case errors.As(err, &typ):
		return fmt.Sprintf("line %d: %v", lineOf(b, typ.Offset), err)
	case errors.Is(err, io.EOF):
		return "empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "cut short: the file ends inside the record"
	}
	return err.Error()
}

func lineOf(b []byte, offset int64) int {
	return bytes.Count(b[:min(int(offset), len(b))], []byte("\n")) + 1
}

// LatestRecords reads every record in dir and returns the newest of each
// scenario by start time, ordered by scenario name.
func LatestRecords(dir string) ([]*Record, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	latest := map[string]*Record{}
	for _, p := range paths {
		rec, err := ReadRecord(p)
		if err != nil {
			return nil, err
		}
		if cur, ok := latest[rec.Scenario]; !ok || rec.Started.After(cur.Started) {
			latest[rec.Scenario] = rec
		}
	}
	out := make([]*Record, 0, len(latest))
	for _, name := range sortedKeys(latest) {
		out = append(out, latest[name])
	}
	return out, nil
}

// dateOf is the UTC day of t, "undated" when t is zero.
func dateOf(t time.Time) string {
	if t.IsZero() {
		return "undated"
	}
	return t.UTC().Format("2006-01-02")
}

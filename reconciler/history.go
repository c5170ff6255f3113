package reconciler

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// HistoryFile is the name of the deploy history in the state directory.
const HistoryFile = "history.jsonl"

// Deploy kinds.
const (
	KindDeploy   = "deploy"   // bluegreen: every step in one go
	KindPrewarm  = "prewarm"  // start and warm the standby, no swap
	KindPromote  = "promote"  // swap a prewarmed standby in (deploy-fast)
	KindRollback = "rollback" // emergency rollback to the previous version
	KindSelfHeal = "self_heal"
)

// Deploy outcomes.
const (
	OutcomeSucceeded = "succeeded"
	// OutcomeDegraded: the new version serves (it passed verify and is the
	// deployed revision), but the deploy was not clean: Degraded says why
	// (a drain that timed out with requests in flight, a failed stop).
	OutcomeDegraded   = "degraded"
	OutcomeRolledBack = "rolled_back" // a gate failed; the previous version serves
	OutcomeFailed     = "failed"      // nothing was changed, or nothing could be restored
)

// Outcomes lists every deploy outcome.
var Outcomes = []string{OutcomeSucceeded, OutcomeDegraded, OutcomeRolledBack, OutcomeFailed}

// DeployRecord is one line of history.jsonl: a finished deploy, its
// outcome and how long each step took.
type DeployRecord struct {
	ID          string        `json:"id"`
	Kind        string        `json:"kind"`
	Strategy    string        `json:"strategy,omitempty"`
	Outcome     string        `json:"outcome"`
	Reason      string        `json:"reason,omitempty"`
	FailedStep  string        `json:"failed_step,omitempty"`
	From        spec.Color    `json:"from,omitempty"`
	To          spec.Color    `json:"to,omitempty"`
	FromVersion string        `json:"from_version,omitempty"`
	ToVersion   string        `json:"to_version,omitempty"`
	Commit      string        `json:"commit,omitempty"`
	SpecHash    string        `json:"spec_hash,omitempty"`
	StartedAt   time.Time     `json:"started_at"`
	FinishedAt  time.Time     `json:"finished_at"`
	Duration    time.Duration `json:"duration_ns"`
	Steps       []StepTiming  `json:"steps,omitempty"`
	// Degraded says why a degraded deploy was not clean.
	Degraded []Degradation `json:"degraded,omitempty"`
	// Retry is set when the deploy failed for a reason of the environment
	// (a port in use, the Docker daemon down, a full disk): it is retried
	// at Retry.NextAttemptAt instead of being quarantined.
	Retry *RetryState `json:"retry,omitempty"`
	// Evidence is the directory keeping a failed deploy's evidence
	// (zdml evidence ID); EvidenceError says why none could be kept.
	Evidence      string `json:"evidence,omitempty"`
	EvidenceError string `json:"evidence_error,omitempty"`
}

// StepTiming is one step of a deploy: how it ended and how long it took.
type StepTiming struct {
	Name     string        `json:"name"`
	Outcome  string        `json:"outcome"` // ok, failed
	Duration time.Duration `json:"duration_ns"`
	Message  string        `json:"message,omitempty"`
}

// Summary is the record as status shows it.
func (d DeployRecord) Summary() *DeploySummary {
	return &DeploySummary{ID: d.ID, Kind: d.Kind, Outcome: d.Outcome, Reason: d.Reason, FailedStep: d.FailedStep,
		FromVersion: d.FromVersion, ToVersion: d.ToVersion, Commit: d.Commit, StartedAt: d.StartedAt, FinishedAt: d.FinishedAt,
		Degraded: d.Degraded, Evidence: d.Evidence, EvidenceError: d.EvidenceError}
}

// History is the append-only deploy history of a state directory.
type History struct {
	mu   sync.Mutex
	path string
}

// NewHistory returns the history of stateDir.
func NewHistory(stateDir string) *History {
	return &History{path: filepath.Join(stateDir, HistoryFile)}
}

// Append adds one record and syncs it to disk.
func (h *History) Append(rec DeployRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("history: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("history: %w", err)
	}
	return f.Close()
}

// ReadHistory returns the last n records of stateDir's history, oldest
// first (all of them when n <= 0). A torn last line, left by a crash
// mid-write, is skipped.
func ReadHistory(stateDir string, n int) ([]DeployRecord, error) {
	f, err := os.Open(filepath.Join(stateDir, HistoryFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	return readRecords(f, n)
}

func readRecords(r io.Reader, n int) ([]DeployRecord, error) {
	var out []DeployRecord
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var rec DeployRecord
		if len(sc.Bytes()) == 0 || json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		out = append(out, rec)
		if n > 0 && len(out) > 2*n {
			out = append(out[:0:0], out[len(out)-n:]...)
		}
	}
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out, sc.Err()
}

package reconciler

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/spec"
)

// EvidenceDir is the folder of the state directory that keeps what a failed
// deploy left to look at, one folder per deploy id (evidence_capture.go).
const EvidenceDir = "evidence"

// MaxEvidence is how many deploys' evidence is kept; the oldest go first.
const MaxEvidence = 20

// The files of an evidence folder. index.json is written last: a folder
// without one is incomplete and never shown.
const (
	EvidenceIndexFile    = "index.json"
	EvidenceSpecFile     = "spec.yaml"     // the spec deployed, defaults applied
	EvidenceNginxFile    = "nginx.conf"    // the config nginx served when the gate failed
	EvidenceLogFile      = "standby.log"   // the standby's last lines, before it was stopped
	EvidenceVerdictFile  = "verdict.json"  // the quality gate's verdict (quality.Verdict)
	EvidencePromptsFile  = "prompts.json"  // prompts with both versions' replies ([]EvidencePrompt)
	EvidenceAnalysisFile = "analysis.json" // a canary's analysis windows ([]analysis.Decision)
)

// EvidenceIndex is index.json: which deploy failed, where, why and when,
// and what the folder holds.
type EvidenceIndex struct {
	DeployID    string     `json:"deploy_id"`
	Kind        string     `json:"kind"`
	Strategy    string     `json:"strategy,omitempty"`
	Step        string     `json:"step"` // the step that failed
	Reason      string     `json:"reason"`
	At          time.Time  `json:"at"` // when the capture began
	From        spec.Color `json:"from,omitempty"`
	To          spec.Color `json:"to"`
	FromVersion string     `json:"from_version,omitempty"`
	ToVersion   string     `json:"to_version"`
	Commit      string     `json:"commit,omitempty"`
	// Swapped is whether the standby had user traffic (a canary): then
	// nothing more is asked of it before its weight goes to 0.
	Swapped bool     `json:"swapped"`
	Files   []string `json:"files"`
	// Missing says what could not be captured, and why.
	Missing []string      `json:"missing,omitempty"`
	Took    time.Duration `json:"took_ns"`
}

// EvidencePrompt is one prompt with both versions' replies: the quality
// gate's golden prompts from its verdict, or the warm-up prompts asked of
// both colors while the evidence was captured.
type EvidencePrompt struct {
	Prompt string       `json:"prompt"`
	Expect *spec.Expect `json:"expect,omitempty"`
	// From is "quality gate" or "asked at capture".
	From    string        `json:"from"`
	Active  EvidenceReply `json:"active"`
	Standby EvidenceReply `json:"standby"`
	// Pass is the quality gate's judgement of the standby's reply.
	Pass *bool `json:"pass,omitempty"`
}

// EvidenceReply is one version's reply to a prompt, or why there is none.
type EvidenceReply struct {
	Color   spec.Color `json:"color,omitempty"`
	Version string     `json:"version,omitempty"`
	Text    string     `json:"text"`
	Error   string     `json:"error,omitempty"`
}

// Evidence is one evidence folder as `zdml evidence` shows it.
type Evidence struct {
	Dir      string              `json:"dir"`
	Index    EvidenceIndex       `json:"index"`
	Verdict  *quality.Verdict    `json:"verdict,omitempty"`
	Prompts  []EvidencePrompt    `json:"prompts,omitempty"`
	Analysis []analysis.Decision `json:"analysis,omitempty"`
	LogTail  []string            `json:"log_tail,omitempty"`
}

// ErrNoEvidence is asked-for evidence that is not kept.
var ErrNoEvidence = errors.New("no evidence")

// ListEvidence returns the index of every complete evidence folder of
// stateDir, oldest first.
func ListEvidence(stateDir string) ([]EvidenceIndex, error) {
	root := filepath.Join(stateDir, EvidenceDir)
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	var out []EvidenceIndex
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		var idx EvidenceIndex
		if readJSON(filepath.Join(root, e.Name(), EvidenceIndexFile), &idx) == nil {
			out = append(out, idx)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// ReadEvidence reads the evidence of deploy id, or the newest when id is "".
func ReadEvidence(stateDir, id string) (*Evidence, error) {
	if id == "" {
		all, err := ListEvidence(stateDir)
		if err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("%w in %s: no deploy has failed a gate since it was kept", ErrNoEvidence, filepath.Join(stateDir, EvidenceDir))
		}
		id = all[len(all)-1].DeployID
	}
	if id != filepath.Base(id) || strings.HasPrefix(id, ".") {
		return nil, fmt.Errorf("evidence: bad deploy id %q", id)
	}
	ev := &Evidence{Dir: filepath.Join(stateDir, EvidenceDir, id)}
	if err := readJSON(filepath.Join(ev.Dir, EvidenceIndexFile), &ev.Index); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w for deploy %s (only the last %d are kept)", ErrNoEvidence, id, MaxEvidence)
		}
		return nil, err
	}
	for _, f := range ev.Index.Files {
		var err error
		switch f {
		case EvidenceVerdictFile:
			err = readJSON(filepath.Join(ev.Dir, f), &ev.Verdict)
		case EvidencePromptsFile:
			err = readJSON(filepath.Join(ev.Dir, f), &ev.Prompts)
		case EvidenceAnalysisFile:
			err = readJSON(filepath.Join(ev.Dir, f), &ev.Analysis)
		case EvidenceLogFile:
			var b []byte
			if b, err = os.ReadFile(filepath.Join(ev.Dir, f)); err == nil && len(b) > 0 {
				ev.LogTail = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			}
		}
		if err != nil {
			return ev, fmt.Errorf("evidence %s: %w", id, err)
		}
	}
	return ev, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

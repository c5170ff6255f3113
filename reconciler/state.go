package reconciler

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
	"github.com/zero-downtime-ml/zdml/spec"
)

// StateFile is the name of the state file in the state directory.
const StateFile = "state.json"

// StateSchema is the version of the state.json layout.
const StateSchema = 1

// State is what the reconciler remembers between runs (state.json). It is
// a record, not the truth: on start the reconciler observes nginx and the
// colors and decides from what it sees; State supplies what cannot be
// observed (the previous version to roll back to, quarantined specs, an
// interrupted deploy).
type State struct {
	Schema int `json:"schema"`
	// ActiveColor is the color nginx was last seen or made to route to.
	ActiveColor spec.Color `json:"active_color,omitempty"`
	// Colors records what each color was started with.
	Colors map[spec.Color]*ColorState `json:"colors,omitempty"`
	// Deployed is the revision the active color serves: the observed
	// generation. It advances only when a deploy succeeds.
	Deployed *Revision `json:"deployed,omitempty"`
	// Previous is the revision deployed before Deployed: what `zdml
	// rollback` goes back to.
	Previous *Revision `json:"previous,omitempty"`
	// Desired is the desired state last read.
	Desired *Revision `json:"desired,omitempty"`
	// DesiredError is why the desired state could not be used, if it
	// could not (invalid YAML, unknown strategy, unreadable repository).
	DesiredError string `json:"desired_error,omitempty"`
	// InProgress is the deploy being run; a reconciler that finds it set
	// on start was killed mid-deploy and resumes or rolls it back.
	InProgress *Progress `json:"in_progress,omitempty"`
	// LastDeploy summarises the last finished deploy.
	LastDeploy *DeploySummary `json:"last_deploy,omitempty"`
	// Quarantine lists desired states that failed and are not retried
	// until the spec changes, newest last.
	Quarantine []Quarantine `json:"quarantine,omitempty"`
	// Retry is a desired state whose deploy failed for a reason of the
	// environment: it is tried again at Retry.NextAttemptAt (retry.go).
	Retry *RetryState `json:"retry,omitempty"`
	// Canary is the traffic split of a canary in progress (canary_state.go).
	Canary *CanaryState `json:"canary,omitempty"`
	// Maintenance, when set, makes nginx answer user routes with 503.
	Maintenance *MaintenanceState `json:"maintenance,omitempty"`
	// Conditions are Ready, Progressing and Degraded.
	Conditions []Condition `json:"conditions,omitempty"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// Revision is one desired state: a spec at a commit.
type Revision struct {
	SpecHash   string `json:"spec_hash"`
	ConfigHash string `json:"config_hash,omitempty"`
	Commit     string `json:"commit,omitempty"` // git commit, "" in file mode
	Digest     string `json:"digest,omitempty"` // sha256 of the desired.yaml bytes
	Model      string `json:"model,omitempty"`
	Version    string `json:"version,omitempty"`
	// App is desired.yaml's metadata.name: runtime kubernetes names and
	// owns its objects by it.
	App string `json:"app,omitempty"`
	// Spec is the whole spec, so that a rollback can deploy it again.
	Spec *spec.Spec `json:"spec,omitempty"`
	At   time.Time  `json:"at,omitzero"`
}

// Color roles.
const (
	RoleActive    = "active"    // nginx routes to it
	RoleStandby   = "standby"   // starting or warming for a deploy
	RolePrewarmed = "prewarmed" // warm, waiting to be promoted
	RoleDraining  = "draining"  // swapped out, finishing its requests
	RoleStopped   = "stopped"
)

// ColorState is what one color was started with.
type ColorState struct {
	Role       string    `json:"role"`
	Runtime    string    `json:"runtime,omitempty"`
	Version    string    `json:"version,omitempty"`
	SpecHash   string    `json:"spec_hash,omitempty"`
	ConfigHash string    `json:"config_hash,omitempty"`
	Addr       string    `json:"addr,omitempty"`
	ID         string    `json:"id,omitempty"` // pid or container id
	InstanceID string    `json:"instance_id,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	WarmedAt   time.Time `json:"warmed_at,omitzero"`
}

// Progress is a deploy in progress.
type Progress struct {
	DeployID string     `json:"deploy_id"`
	Kind     string     `json:"kind"` // deploy, prewarm, promote, rollback
	From     spec.Color `json:"from,omitempty"`
	To       spec.Color `json:"to"`
	Target   Revision   `json:"target"`
	Step     string     `json:"step"`
	Swapped  bool       `json:"swapped"`
	// SwappedAt is when nginx was made to route to To, and
	// RetiredShutdown the worker_shutdown_timeout of the config the swap
	// retired: a resumed drain is bounded by it too.
	SwappedAt       time.Time     `json:"swapped_at,omitzero"`
	RetiredShutdown time.Duration `json:"retired_worker_shutdown_ns,omitempty"`
	// Verified is set once verify passed: the new version is committed; a
	// later failure is reported (Degraded), never rolled back.
	Verified bool `json:"verified,omitempty"`
	// Degraded lists what already left the deploy degraded.
	Degraded  []Degradation `json:"degraded,omitempty"`
	StartedAt time.Time     `json:"started_at"`
	// Failed is why the deploy failed, once it has: a reconciler that
	// finds it set finishes the rollback instead of retrying the deploy.
	Failed string `json:"failed,omitempty"`
	// FailedStep is the step that failed.
	FailedStep string `json:"failed_step,omitempty"`
}

// DeploySummary is the last deploy as status shows it.
type DeploySummary struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Outcome     string    `json:"outcome"` // succeeded, degraded, rolled_back, failed
	Reason      string    `json:"reason,omitempty"`
	FailedStep  string    `json:"failed_step,omitempty"`
	FromVersion string    `json:"from_version,omitempty"`
	ToVersion   string    `json:"to_version,omitempty"`
	Commit      string    `json:"commit,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	// Degraded says why a degraded deploy was not clean.
	Degraded []Degradation `json:"degraded,omitempty"`
	// Evidence is the failed deploy's evidence directory (zdml evidence).
	Evidence      string `json:"evidence,omitempty"`
	EvidenceError string `json:"evidence_error,omitempty"`
}

// Quarantine is a desired state that is not retried until it changes.
type Quarantine struct {
	SpecHash string    `json:"spec_hash,omitempty"` // "" for a file that did not parse
	Digest   string    `json:"digest,omitempty"`    // file digest, for a file that did not parse
	Commit   string    `json:"commit,omitempty"`
	Version  string    `json:"version,omitempty"`
	Reason   string    `json:"reason"`
	DeployID string    `json:"deploy_id,omitempty"`
	At       time.Time `json:"at"`
}

// maxQuarantine bounds the quarantine list; the oldest entries go first.
const maxQuarantine = 32

// Condition is one status condition, Kubernetes style.
type Condition struct {
	Type               string    `json:"type"`   // Ready, Progressing, Degraded
	Status             string    `json:"status"` // True, False, Unknown
	Reason             string    `json:"reason"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"last_transition_time"`
}

// Condition types.
const (
	CondReady       = "Ready"
	CondProgressing = "Progressing"
	CondDegraded    = "Degraded"
)

// LoadState reads state.json from dir; a missing file is an empty state.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return &State{Schema: StateSchema}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state %s: %w", filepath.Join(dir, StateFile), err)
	}
	if s.Schema > StateSchema {
		return nil, fmt.Errorf("state %s: schema %d is newer than this zdml (%d)", filepath.Join(dir, StateFile), s.Schema, StateSchema)
	}
	s.Schema = StateSchema
	return &s, nil
}

// Save writes s to dir/state.json atomically.
func (s *State) Save(dir string) error {
	s.UpdatedAt = time.Now().UTC()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, StateFile), append(b, '\n'), 0o644)
}

// Color returns the record of color c, creating it.
func (s *State) Color(c spec.Color) *ColorState {
	if s.Colors == nil {
		s.Colors = map[spec.Color]*ColorState{}
	}
	cs := s.Colors[c]
	if cs == nil {
		cs = &ColorState{Role: RoleStopped}
		s.Colors[c] = cs
	}
	return cs
}

// Quarantined returns the quarantine entry matching a desired state: by
// spec hash, or by file digest for a file that did not parse.
func (s *State) Quarantined(specHash, digest string) (Quarantine, bool) {
	for i := len(s.Quarantine) - 1; i >= 0; i-- {
		q := s.Quarantine[i]
		if (specHash != "" && q.SpecHash == specHash) || (specHash == "" && digest != "" && q.Digest == digest) {
			return q, true
		}
	}
	return Quarantine{}, false
}

// AddQuarantine quarantines q, replacing an entry for the same state.
func (s *State) AddQuarantine(q Quarantine) {
	s.RemoveQuarantine(q.SpecHash, q.Digest)
	s.Quarantine = append(s.Quarantine, q)
	if n := len(s.Quarantine); n > maxQuarantine {
		s.Quarantine = append([]Quarantine(nil), s.Quarantine[n-maxQuarantine:]...)
	}
}

// RemoveQuarantine lifts the quarantine of a desired state; it reports
// whether there was one.
func (s *State) RemoveQuarantine(specHash, digest string) bool {
	out := s.Quarantine[:0]
	removed := false
	for _, q := range s.Quarantine {
		if (specHash != "" && q.SpecHash == specHash) || (specHash == "" && digest != "" && q.Digest == digest) {
			removed = true
			continue
		}
		out = append(out, q)
	}
	s.Quarantine = out
	return removed
}

// SetCondition sets a condition, keeping its transition time when its
// status does not change.
func (s *State) SetCondition(typ, status, reason, msg string) {
	now := time.Now().UTC()
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, msg
		return
	}
	s.Conditions = append(s.Conditions, Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
}

// Condition returns the condition of type typ.
func (s *State) Condition(typ string) (Condition, bool) {
	for _, c := range s.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}

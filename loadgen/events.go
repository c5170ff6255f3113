package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/zero-downtime-ml/zdml/quality"
)

// Event is one line of the reconciler's events.jsonl (docs/architecture.md,
// reconciler.Event). loadgen decodes the file format, not the reconciler
// package, so that it depends on the contract only.
type Event struct {
	Time     time.Time     `json:"time"`
	DeployID string        `json:"deploy_id,omitempty"`
	Step     string        `json:"step"`
	Phase    string        `json:"phase"`
	Color    string        `json:"color,omitempty"`
	Version  string        `json:"version,omitempty"`
	Commit   string        `json:"commit,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Message  string        `json:"message,omitempty"`
	// Weight is the canary's share of user traffic, on canary events.
	Weight *int `json:"weight,omitempty"`
	// Analysis is a canary analysis window, on the events that judge one.
	Analysis *CanaryDecision `json:"analysis,omitempty"`
	// Quality is the quality gate's verdict (docs/architecture.md,
	// "Quality gate"), on the event that records it.
	Quality *quality.Verdict `json:"quality,omitempty"`
}

// Step names and phases used to cut a run into phases.
const (
	StepPreflight = "preflight"
	StepWarmup    = "warmup"
	StepSwap      = "swap"
	StepDrain     = "drain"
	StepRecord    = "record"
	StepRollback  = "rollback"
	StepSelfHeal  = "self_heal"
	StepCanary    = "canary"
	StepQuality   = "quality"

	PhaseStart = "start"
	PhaseEnd   = "end"
	PhaseFail  = "fail"
)

// String is "swap end (green v2)".
func (e Event) String() string {
	s := e.Step + " " + e.Phase
	switch {
	case e.Color != "" && e.Version != "":
		s += fmt.Sprintf(" (%s %s)", e.Color, e.Version)
	case e.Color != "":
		s += " (" + e.Color + ")"
	}
	return s
}

// ReadEvents reads an events.jsonl file. A missing file is no events.
func ReadEvents(path string) ([]Event, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer f.Close()
	return DecodeEvents(f)
}

// DecodeEvents decodes JSON lines, sorted by time.
func DecodeEvents(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return out, fmt.Errorf("events line %d: %w", line, err)
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, sc.Err()
}

// WriteEvents writes events as JSON lines.
func WriteEvents(w io.Writer, events []Event) error {
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}

// EventTail follows a growing events.jsonl: each Poll reads the complete
// lines appended since the last one.
type EventTail struct {
	path   string
	mu     sync.Mutex
	offset int64
	events []Event
}

// NewEventTail follows path from its current end, so that only events
// after now are seen.
func NewEventTail(path string) *EventTail {
	t := &EventTail{path: path}
	if fi, err := os.Stat(path); err == nil {
		t.offset = fi.Size()
	}
	return t
}

// Poll reads new events; a missing file is not an error (the reconciler
// may not have written one yet).
func (t *EventTail) Poll() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Open(t.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(t.offset, io.SeekStart); err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return nil
	}
	evs, err := DecodeEvents(bytes.NewReader(data[:end+1]))
	t.offset += int64(end + 1)
	t.events = append(t.events, evs...)
	return err
}

// Events is every event seen so far.
func (t *EventTail) Events() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Event(nil), t.events...)
}

// Last is the latest event seen, if any.
func (t *EventTail) Last() (Event, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.events) == 0 {
		return Event{}, false
	}
	return t.events[len(t.events)-1], true
}

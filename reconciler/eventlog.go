package reconciler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// EventsFile is the name of the step-event log in the state directory.
const EventsFile = "events.jsonl"

// Step names, as events.jsonl and the metrics use them.
const (
	StepPreflight = "preflight"
	StepStart     = "start"
	StepReady     = "ready"
	StepWarmup    = "warmup"
	StepSwap      = "swap"
	StepDrain     = "drain"
	StepVerify    = "verify"
	StepStop      = "stop"
	StepRecord    = "record"
	StepRollback  = "rollback"
	StepSelfHeal  = "self_heal"
)

// EventLog appends events to events.jsonl, one JSON object per line, and
// mirrors them to the log. Each line is one write on an O_APPEND file, so
// a reader never sees half an event from a live writer.
type EventLog struct {
	mu   sync.Mutex
	f    *os.File
	log  *slog.Logger
	sink func(Event) // optional observer (metrics, tests)
}

// OpenEventLog opens stateDir/events.jsonl for appending.
func OpenEventLog(stateDir string, log *slog.Logger) (*EventLog, error) {
	f, err := os.OpenFile(filepath.Join(stateDir, EventsFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return &EventLog{f: f, log: log}, nil
}

// Emit records e, stamping its time when unset.
func (l *EventLog) Emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	l.mu.Lock()
	if l.f != nil {
		if _, err := l.f.Write(append(b, '\n')); err != nil {
			l.log.Error("write event", "err", err)
		}
	}
	sink := l.sink
	l.mu.Unlock()
	level := slog.LevelInfo
	if e.Phase == PhaseFail || e.Phase == PhaseRollback {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, "step "+e.Phase, "step", e.Step, "deploy_id", e.DeployID, "color", e.Color,
		"version", e.Version, "duration", e.Duration, "msg_detail", e.Message)
	if sink != nil {
		sink(e)
	}
}

// setSink installs an observer called with every event, synchronously:
// tests use it to act at an exact step.
func (l *EventLog) setSink(f func(Event)) {
	l.mu.Lock()
	l.sink = f
	l.mu.Unlock()
}

// Close closes the file.
func (l *EventLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

package modelserver

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/zero-downtime-ml/zdml/models"
)

// Model load phases.
const (
	phaseLoading = "loading"
	phaseLoaded  = "loaded"
	phaseFailed  = "failed"
)

// Model is the served model: its identity, its load state and, once loaded,
// its engine. A model that fails to load leaves the process up with the
// reason, so /healthz stays 200, /ready says why it is 503 and /health/deep
// tells the reconciler (which watches the process and polls /ready).
type Model struct {
	Path    string
	Name    string
	Version string
	Info    models.Info // from the GGUF header; zero if unreadable

	mu       sync.Mutex
	phase    string
	err      error
	engine   Engine
	template Template
	loadTime time.Duration
	sha256   string
	shaErr   error
}

// newModel inspects the file (header only: fast) so that the name and
// version are known before the first response; a file that cannot be
// inspected fails here and is reported, not fatal.
func newModel(cfg Config) *Model {
	m := &Model{Path: cfg.Model, Name: cfg.ModelName, Version: cfg.ModelVersion, phase: phaseLoading, sha256: cfg.ModelSHA256}
	info, err := models.Inspect(cfg.Model)
	if err != nil {
		m.phase, m.err = phaseFailed, err
	}
	m.Info = info
	if m.Name == "" {
		m.Name = info.Name
	}
	if m.Name == "" {
		m.Name = filepath.Base(cfg.Model)
	}
	if m.Version == "" {
		m.Version = info.Version
	}
	if m.Version == "" {
		m.Version = "unknown"
	}
	return m
}

// load loads the engine; it blocks for the whole load.
func (m *Model) load(ctx context.Context, load LoadFunc, cfg EngineConfig, log *slog.Logger) error {
	if m.State() == phaseFailed { // the header did not inspect
		return m.err
	}
	tmpl, err := ReadTemplate(m.Path)
	if err != nil {
		return m.fail(err)
	}
	if !tmpl.ChatML {
		log.Warn("chat template is not ChatML; rendering prompts as a plain transcript")
	}
	start := time.Now()
	eng, err := load(ctx, cfg, log)
	if err != nil {
		return m.fail(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.phase, m.engine, m.template, m.loadTime = phaseLoaded, eng, tmpl, time.Since(start)
	return nil
}

func (m *Model) fail(err error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.phase, m.err = phaseFailed, err
	return err
}

// State returns the load phase.
func (m *Model) State() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.phase
}

// Engine returns the engine, or why there is none yet.
func (m *Model) Engine() (Engine, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.phase {
	case phaseLoaded:
		return m.engine, nil
	case phaseFailed:
		return nil, fmt.Errorf("model failed to load: %v", m.err)
	}
	return nil, fmt.Errorf("model loading")
}

// Template returns the chat template (valid once loaded).
func (m *Model) Template() Template {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.template
}

// hashInBackground computes the file's sha256 unless it was given. It runs
// after the load so it never delays readiness (a 1 GB file takes seconds).
func (m *Model) hashInBackground(ctx context.Context, log *slog.Logger) {
	m.mu.Lock()
	given := m.sha256 != ""
	m.mu.Unlock()
	if given {
		return
	}
	sum, err := models.SHA256(ctx, m.Path)
	m.mu.Lock()
	m.sha256, m.shaErr = sum, err
	m.mu.Unlock()
	if err != nil {
		log.Warn("model sha256 failed", "err", err)
		return
	}
	log.Info("model sha256 computed", "sha256", sum)
}

// status is the model part of /health/deep.
type modelStatus struct {
	Name         string      `json:"name"`
	Version      string      `json:"version"`
	File         string      `json:"file"`
	SHA256       string      `json:"sha256"`
	Architecture string      `json:"architecture"`
	Parameters   uint64      `json:"parameters"`
	Quantization string      `json:"quantization"`
	FileSize     int64       `json:"file_size"`
	State        string      `json:"state"` // loading, loaded, failed
	Error        string      `json:"error,omitempty"`
	LoadSeconds  float64     `json:"load_seconds,omitempty"`
	Template     string      `json:"chat_template,omitempty"`
	Engine       *EngineInfo `json:"engine,omitempty"`
}

func (m *Model) status() modelStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := modelStatus{
		Name: m.Name, Version: m.Version, File: m.Path, SHA256: m.sha256,
		Architecture: m.Info.Architecture, Parameters: m.Info.Parameters,
		Quantization: m.Info.Quantization, FileSize: m.Info.FileSize, State: m.phase,
	}
	if m.err != nil {
		s.Error = m.err.Error()
	}
	if m.sha256 == "" && m.shaErr != nil {
		s.SHA256 = "error: " + m.shaErr.Error()
	}
	if m.phase == phaseLoaded {
		info := m.engine.Info()
		s.Engine, s.LoadSeconds, s.Template = &info, m.loadTime.Seconds(), m.template.Name()
	}
	return s
}

package modelserver

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/buildinfo"
)

// handleHealthz is liveness: 200 while the process can answer at all.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

type readyResponse struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

// handleReady is readiness: 200 only when the model is loaded, a real
// inference succeeded within the last few seconds and memory is under the
// limit; otherwise 503 with the reason.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
	defer cancel()
	reason := s.notReadyReason(ctx, true)
	if reason != "" {
		writeJSON(w, http.StatusServiceUnavailable, readyResponse{Reason: reason})
		return
	}
	writeJSON(w, http.StatusOK, readyResponse{Ready: true})
}

// notReadyReason returns why the server is not ready, or "". With probe
// false it reports the last inference check instead of running one.
func (s *Server) notReadyReason(ctx context.Context, probe bool) string {
	if s.draining.Load() {
		return "draining"
	}
	if _, err := s.model.Engine(); err != nil {
		return err.Error()
	}
	if reason := s.memoryReason(); reason != "" {
		return reason
	}
	if probe {
		if err := s.probe.check(ctx); err != nil {
			return err.Error()
		}
		return ""
	}
	if s.probe.sinceToken() < readyTTL {
		return ""
	}
	if _, err := s.probe.last(); err != nil {
		return err.Error()
	}
	return ""
}

// memoryReason checks PSS against --memory-limit. RSS, which is cheap to read
// and never below PSS, answers first; only above the limit does PSS (a
// cached reading, see memoryCache) decide. Without a limit an unreadable
// smaps_rollup (kernels before 4.14) does not block readiness.
func (s *Server) memoryReason() string {
	if s.cfg.MemoryLimit <= 0 {
		return ""
	}
	if rss, err := ReadRSS(); err == nil && rss <= int64(s.cfg.MemoryLimit) {
		return ""
	}
	mem, _, err := s.memory.get()
	if err != nil {
		return "memory limit set but memory unreadable: " + err.Error()
	}
	if mem.PSS > int64(s.cfg.MemoryLimit) {
		return fmt.Sprintf("memory: pss %d bytes above the limit of %d", mem.PSS, s.cfg.MemoryLimit)
	}
	return ""
}

// readinessInference generates a token or two from a fixed chat prompt,
// checking that the logits are finite and that the model says something.
func (s *Server) readinessInference(ctx context.Context) error {
	eng, err := s.model.Engine()
	if err != nil {
		return err
	}
	prompt, err := eng.Tokenize(s.model.Template().Render([]Message{{Role: "user", Content: "Say OK."}}))
	if err != nil {
		return err
	}
	res, err := eng.Generate(ctx, GenerateRequest{Prompt: prompt, MaxTokens: 2, CheckLogits: true},
		func(Piece) error { s.probe.tokenProduced(); return nil })
	if err != nil {
		return err
	}
	if res.CompletionTokens == 0 {
		return fmt.Errorf("the model replied nothing (end of generation at once): degenerate weights?")
	}
	s.probe.tokenProduced()
	return nil
}

// deepHealth is /health/deep (docs/architecture.md lists the fields).
type deepHealth struct {
	InstanceID    string      `json:"instance_id"`
	Color         string      `json:"color"`
	Model         modelStatus `json:"model"`
	Host          string      `json:"host"`
	ContainerID   string      `json:"container_id"`
	PID           int         `json:"pid"`
	RSSBytes      int64       `json:"rss_bytes"`
	PSSBytes      int64       `json:"pss_bytes"`
	MemoryAge     float64     `json:"memory_age_seconds"`
	UptimeSeconds float64     `json:"uptime_seconds"`
	InFlight      int64       `json:"in_flight"`
	QueueDepth    int         `json:"queue_depth"`
	Running       int         `json:"running"`
	Ready         bool        `json:"ready"`
	ReadyReason   string      `json:"ready_reason"`
	Draining      bool        `json:"draining"`
	BuildVersion  string      `json:"build_version"`
	StartedAt     time.Time   `json:"started_at"`
}

// handleDeep is the diagnostic view. It always answers 200 and never runs
// an inference: it reports the last readiness result.
func (s *Server) handleDeep(w http.ResponseWriter, r *http.Request) {
	host, _ := os.Hostname()
	mem, at, _ := s.memory.get()
	if rss, err := ReadRSS(); err == nil {
		mem.RSS = rss // fresh; PSS is as old as memory_age_seconds says
	}
	reason := s.notReadyReason(r.Context(), false)
	writeJSON(w, http.StatusOK, deepHealth{
		InstanceID:    s.instanceID,
		Color:         s.cfg.Color.String(),
		Model:         s.model.status(),
		Host:          host,
		ContainerID:   containerID(),
		PID:           os.Getpid(),
		RSSBytes:      mem.RSS,
		PSSBytes:      mem.PSS,
		MemoryAge:     time.Since(at).Seconds(),
		UptimeSeconds: time.Since(s.started).Seconds(),
		InFlight:      s.inFlight.Load(),
		QueueDepth:    s.queue.Waiting(),
		Running:       s.queue.Running(),
		Ready:         reason == "",
		ReadyReason:   reason,
		Draining:      s.draining.Load(),
		BuildVersion:  buildVersion(),
		StartedAt:     s.started.UTC(),
	})
}

// buildVersion is the module version, or the VCS revision the binary was
// built from ("+dirty" when the tree had changes).
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if rev := buildinfo.Revision(bi); rev != "" && (v == "" || v == "(devel)") {
		return rev
	}
	if v == "" {
		return "unknown"
	}
	return v
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

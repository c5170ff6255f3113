package modelserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// idleTimeout is longer than nginx's upstream keepalive_timeout (60 s), so
// nginx always closes an idle upstream connection before the server does and
// never sends a request on a connection the server is closing.
const idleTimeout = 120 * time.Second

// Server is one color's model server.
type Server struct {
	cfg        Config
	log        *slog.Logger
	load       LoadFunc
	reg        *prometheus.Registry
	metrics    *metrics
	model      *Model
	queue      *Queue
	history    *History
	probe      *probe
	memory     *memoryCache
	instanceID string
	started    time.Time

	draining atomic.Bool
	inFlight atomic.Int64
}

// NewServer opens the history database and inspects the model file; the
// model itself loads in Run. An unreadable database is an error (a
// configuration mistake); an unloadable model is not (see Model).
func NewServer(ctx context.Context, cfg Config, load LoadFunc, log *slog.Logger) (*Server, error) {
	hist, err := OpenHistory(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	s := &Server{
		cfg:        cfg,
		log:        log,
		load:       load,
		reg:        reg,
		model:      newModel(cfg),
		history:    hist,
		memory:     newMemoryCache(ReadMemory),
		instanceID: newRequestID() + newRequestID(),
		started:    time.Now(),
	}
	s.metrics = newMetrics(reg,
		func() float64 { return boolGauge(s.notReadyReason(context.Background(), false) == "") },
		func() float64 { m, _, _ := s.memory.get(); return float64(m.PSS) })
	s.queue = NewQueue(cfg.Parallel, cfg.Queue, func(n int) { s.metrics.queueDepth.Set(float64(n)) })
	s.probe = &probe{run: s.readinessInference, try: s.queue.TryAcquire}
	s.metrics.info.WithLabelValues(cfg.Color.String(), s.model.Name, s.model.Version, s.model.Info.Quantization).Set(1)
	return s, nil
}

// Handler is the server's HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	get := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodGet: h}
	}
	post := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodPost: h}
	}
	s.handle(mux, "/healthz", []string{"/healthz"}, get(s.handleHealthz))
	s.handle(mux, "/ready", []string{"/ready"}, get(s.handleReady))
	s.handle(mux, "/health/deep", []string{"/health/deep"}, get(s.handleDeep))
	s.handle(mux, "/metrics", []string{"/metrics"}, get(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}).ServeHTTP))
	s.handle(mux, "/chat", []string{"/chat"}, post(s.handleChat))
	s.handle(mux, "/chat/{user_id}", []string{"/chat/{user_id...}"}, post(s.handleChat))
	s.handle(mux, "/v1/chat/completions", []string{"/v1/chat/completions"}, post(s.handleCompletions))
	s.handle(mux, "/v1/logprobs", []string{"/v1/logprobs"}, post(s.handleLogprobs))
	s.handle(mux, "/v1/models", []string{"/v1/models"}, get(s.handleModels))
	mux.Handle("/", s.instrument("unmatched", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Message: "no such endpoint: " + r.URL.Path})
	}))
	return s.identify(mux)
}

// Run serves until ctx is done, then drains: /ready turns 503 at once, new
// generations get 503, and in-flight ones finish within ShutdownTimeout
// before the rest are cancelled. It returns nil after a clean drain, so the
// process exits 0.
func Run(ctx context.Context, cfg Config, load LoadFunc, log *slog.Logger) error {
	s, err := NewServer(ctx, cfg, load, log)
	if err != nil {
		return err
	}
	defer s.history.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, loading the model in the background.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancelBase := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelBase(nil)
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idleTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "model", s.model.Path,
		"version", s.model.Version, "instance_id", s.instanceID)
	go s.loadModel(base)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return s.drain(srv, cancelBase)
}

func (s *Server) loadModel(ctx context.Context) {
	log := s.log.With("model", s.model.Path)
	log.Info("loading model")
	cfg := EngineConfig{Path: s.cfg.Model, Threads: s.cfg.Threads, Parallel: s.cfg.Parallel,
		Ctx: s.cfg.Ctx, Batch: s.cfg.Batch, FlashAttention: s.cfg.FlashAttention}
	if err := s.model.load(ctx, s.load, cfg, log); err != nil {
		log.Error("model failed to load; staying up and not ready", "err", err)
		return
	}
	st := s.model.status()
	log.Info("model loaded", "seconds", st.LoadSeconds, "architecture", st.Architecture,
		"quantization", st.Quantization, "parameters", st.Parameters, "chat_template", st.Template,
		"slots", st.Engine.Slots, "slot_context", st.Engine.SlotContext, "threads", st.Engine.Threads,
		"flash_attention", st.Engine.FlashAttention, "cpu_repack_bytes", st.Engine.RepackBytes)
	// Warm up at once: the first inference pages the weights in, and the
	// reconciler's first /ready poll then finds a fresh result.
	if err := s.probe.check(ctx); err != nil {
		log.Warn("readiness inference failed", "err", err)
	} else {
		log.Info("readiness inference passed")
	}
	s.model.hashInBackground(ctx, log)
}

// drain stops taking generations and waits for in-flight ones (real counts,
// no fixed delay), up to ShutdownTimeout; then it cancels what is left.
func (s *Server) drain(srv *http.Server, cancel context.CancelCauseFunc) error {
	s.draining.Store(true)
	deadline := time.Now().Add(s.cfg.ShutdownTimeout)
	s.log.Info("draining", "in_flight", s.inFlight.Load(), "timeout", s.cfg.ShutdownTimeout.String())
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.inFlight.Load() > 0 && time.Now().Before(deadline) {
		<-tick.C
	}
	left := s.inFlight.Load()
	if left > 0 {
		s.log.Warn("shutdown timeout: cancelling in-flight requests", "in_flight", left)
		cancel(errors.New("server shutdown timeout"))
	}
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	s.log.Info("drained", "cancelled", left, "uptime_seconds", time.Since(s.started).Seconds())
	return nil
}

package modelserver

import (
	"context"
	"errors"
	"math"
	"time"
)

// errDraining refuses new generations after SIGTERM; Retry-After 1 because
// the other color is (or is about to be) serving.
var errDraining = unavailable("draining", 1, "server is draining for shutdown; retry on the active color")

// generation is one request's journey: engine check, queue, engine, metrics.
type generation struct {
	s       *Server
	arrived time.Time
	engine  Engine
	done    func() // leaves the in-flight count
}

// startGeneration counts the request in flight (the reconciler drains on
// that count) and checks that generations are being taken at all.
func (s *Server) startGeneration() (*generation, error) {
	s.inFlight.Add(1)
	s.metrics.inFlight.Inc()
	g := &generation{s: s, arrived: time.Now(), done: func() {
		s.inFlight.Add(-1)
		s.metrics.inFlight.Dec()
	}}
	if s.draining.Load() {
		return g, errDraining
	}
	eng, err := s.model.Engine()
	if err != nil {
		return g, unavailable("not_ready", 5, "%v", err)
	}
	g.engine = eng
	return g, nil
}

// run waits for a slot and generates. emit gets the text as it comes.
func (g *generation) run(ctx context.Context, req GenerateRequest, onAdmit func(), emit func(Piece) error) (GenerateResult, error) {
	release, err := g.admit(ctx)
	if err != nil {
		return GenerateResult{}, err
	}
	defer release()
	if onAdmit != nil {
		onAdmit()
	}
	res, err := g.engine.Generate(ctx, req, func(p Piece) error {
		g.s.probe.tokenProduced()
		if emit == nil {
			return nil
		}
		return emit(p)
	})
	g.observe(res)
	return res, err
}

// admit waits for a slot: generations and scorings share them and the queue.
func (g *generation) admit(ctx context.Context) (release func(), err error) {
	s := g.s
	if s.draining.Load() {
		return nil, errDraining
	}
	release, err = s.queue.Acquire(ctx)
	if errors.Is(err, ErrQueueFull) {
		s.metrics.rejected.Inc()
	}
	return release, err
}

func (g *generation) observe(res GenerateResult) {
	m := g.s.metrics
	m.promptTokens.Add(float64(res.PromptTokens))
	m.generated.Add(float64(res.CompletionTokens))
	if res.Finished.IsZero() {
		return
	}
	m.inference.Observe(res.Finished.Sub(res.Started).Seconds())
	if !res.FirstToken.IsZero() {
		m.ttft.Observe(res.FirstToken.Sub(g.arrived).Seconds())
		if tps := tokensPerSecond(res); tps > 0 {
			m.tokensPerSec.Observe(tps)
		}
	}
}

// tokensPerSecond is the generation speed after the first token (the first
// token's time is the prompt's, reported as time to first token).
func tokensPerSecond(res GenerateResult) float64 {
	if res.CompletionTokens < 2 || res.FirstToken.IsZero() {
		return 0
	}
	d := res.Finished.Sub(res.FirstToken).Seconds()
	if d <= 0 {
		return 0
	}
	return math.Round(float64(res.CompletionTokens-1)/d*10) / 10
}

// timings is the timing part of a chat response, in milliseconds.
type timings struct {
	QueueMS          float64 `json:"queue_ms"`
	TimeToFirstToken float64 `json:"time_to_first_token_ms"`
	InferenceMS      float64 `json:"inference_ms"`
	TokensPerSecond  float64 `json:"tokens_per_second"`
}

func (g *generation) timings(res GenerateResult) timings {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	t := timings{TokensPerSecond: tokensPerSecond(res)}
	if !res.Started.IsZero() {
		t.QueueMS = ms(res.Started.Sub(g.arrived))
		t.InferenceMS = ms(res.Finished.Sub(res.Started))
	}
	if !res.FirstToken.IsZero() {
		t.TimeToFirstToken = ms(res.FirstToken.Sub(g.arrived))
	}
	return t
}

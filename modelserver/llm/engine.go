package llm

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ollama/ollama/llama"
	"github.com/ollama/ollama/ml"

	"github.com/zero-downtime-ml/zdml/modelserver"
)

var _ modelserver.Engine = (*Engine)(nil)

// Engine is the llama.cpp inference engine: one model mapped read-only, one
// context created once (the binding cannot free it), and one goroutine that
// owns the context and decodes every active sequence in each step
// (continuous batching).
type Engine struct {
	model  *llama.Model
	lc     *llama.Context
	pool   *threadpool // nil when it could not be attached
	cfg    modelserver.EngineConfig
	info   modelserver.EngineInfo
	log    *slog.Logger
	submit chan *sequence

	// Owned by the decode loop.
	slots  []*slot
	rotate int
	// The scoring's time share (see account).
	kind        int           // the last planned step's kind
	beside      bool          // other sequences ran in it or just before
	lastTraffic time.Time     // when other sequences than scorings last ran
	scoreDebt   time.Duration // scoring time not yet paid back by reply steps
}

var backendOnce sync.Once

// Load maps the GGUF file at cfg.Path, creates the context and starts the
// decode loop. It satisfies modelserver.LoadFunc. A file llama.cpp rejects
// yields an error carrying llama.cpp's own reason.
func Load(ctx context.Context, cfg modelserver.EngineConfig, log *slog.Logger) (modelserver.Engine, error) {
	cfg = withDefaults(cfg)
	router.setLogger(log)
	if _, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	backendOnce.Do(llama.BackendInit)
	stop := router.capture()
	e, err := load(cfg, log)
	lines := stop()
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", cfg.Path, withReason(err, lines))
	}
	e.info.RepackBytes = repackBytes(lines)
	go e.run()
	return e, nil
}

func load(cfg modelserver.EngineConfig, log *slog.Logger) (*Engine, error) {
	model, err := llama.LoadModelFromFile(cfg.Path, llama.ModelParams{
		UseMmap:  true,
		Progress: func(float32) {}, // nil makes llama.cpp print dots
	})
	if err != nil {
		return nil, err
	}
	fa := ml.FlashAttentionDisabled
	if cfg.FlashAttention {
		fa = ml.FlashAttentionEnabled
	}
	params := llama.NewContextParams(cfg.Ctx*cfg.Parallel, cfg.Batch, cfg.Parallel, cfg.Threads, fa, "")
	lc, err := llama.NewContextWithModel(model, params)
	if err != nil {
		llama.FreeModel(model)
		return nil, err
	}
	pool, err := attachThreadpool(lc, cfg.Threads, cfg.Ctx*cfg.Parallel)
	if err != nil {
		log.Warn("no persistent decode threads: ggml starts its workers for every decode, slower when every core decodes", "err", err)
	}
	return &Engine{
		model: model,
		lc:    lc,
		pool:  pool,
		cfg:   cfg,
		log:   log,
		slots: newSlots(cfg.Parallel),
		info: modelserver.EngineInfo{
			Slots:          cfg.Parallel,
			SlotContext:    cfg.Ctx,
			Threads:        cfg.Threads,
			FlashAttention: cfg.FlashAttention,
			VocabSize:      model.NumVocab(),
		},
		submit: make(chan *sequence),
	}, nil
}

// withDefaults fills zero values and rounds the slot context up to llama.cpp's
// padding of 256, so that each sequence gets exactly cfg.Ctx cells.
func withDefaults(cfg modelserver.EngineConfig) modelserver.EngineConfig {
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	if cfg.Ctx <= 0 {
		cfg.Ctx = 2048
	}
	cfg.Ctx = (cfg.Ctx + 255) / 256 * 256
	if cfg.Batch <= 0 {
		cfg.Batch = 512
	}
	return cfg
}

// withReason adds llama.cpp's error lines to the binding's bare
// "unable to load model".
func withReason(err error, lines []logLine) error {
	var reasons []string
	for _, l := range lines {
		if l.level == ggmlLogError {
			reasons = append(reasons, l.text)
		}
	}
	if len(reasons) == 0 {
		return err
	}
	return fmt.Errorf("%w: %s", err, strings.Join(reasons, "; "))
}

var repackRe = regexp.MustCompile(`CPU_REPACK model buffer size\s*=\s*([0-9.]+) MiB`)

// repackBytes finds the size of the CPU_REPACK weight buffer in the load log;
// zero means llama.cpp repacked nothing.
func repackBytes(lines []logLine) int64 {
	for _, l := range lines {
		if m := repackRe.FindStringSubmatch(l.text); m != nil {
			mib, _ := strconv.ParseFloat(m[1], 64)
			return int64(mib * (1 << 20))
		}
	}
	return 0
}

// Info describes the loaded model and context.
func (e *Engine) Info() modelserver.EngineInfo { return e.info }

// Tokenize tokenizes text, parsing special tokens and adding BOS when the
// model wants it. llama_tokenize only reads the vocabulary, so it is safe
// beside the decode loop.
func (e *Engine) Tokenize(text string) ([]int, error) {
	if text == "" {
		return nil, nil
	}
	toks, err := e.model.Tokenize(text, true, true)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %w", err)
	}
	return toks, nil
}

// TokenizeText tokenizes text to be scored: special tokens are not parsed.
func (e *Engine) TokenizeText(text string) ([]int, error) {
	if text == "" {
		return nil, nil
	}
	toks, err := e.model.Tokenize(text, true, false)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %w", err)
	}
	return toks, nil
}

// TokenPiece is the text of one token. llama_token_to_piece only reads the
// vocabulary, so it is safe beside the decode loop.
func (e *Engine) TokenPiece(id int) string { return e.model.TokenToPiece(id) }

// Generate runs one generation; see modelserver.Engine.
func (e *Engine) Generate(ctx context.Context, req modelserver.GenerateRequest, emit func(modelserver.Piece) error) (modelserver.GenerateResult, error) {
	res := modelserver.GenerateResult{Started: time.Now(), PromptTokens: len(req.Prompt)}
	if err := e.check(req); err != nil {
		return res, err
	}
	sampler, err := llama.NewSamplingContext(e.model, samplingParams(req))
	if err != nil {
		return res, fmt.Errorf("generate: %w", err)
	}
	seq := newSequence(ctx, req, sampler, res.Started)
	defer seq.cancel(nil)
	if err := e.enqueue(ctx, seq); err != nil {
		res.FinishReason, res.Finished = modelserver.FinishCancelled, time.Now()
		return res, err
	}
	return seq.wait(emit)
}

// Score scores a text; see modelserver.Engine.
func (e *Engine) Score(ctx context.Context, req modelserver.ScoreRequest) (modelserver.ScoreResult, error) {
	res := modelserver.ScoreResult{Started: time.Now()}
	switch {
	case len(req.Tokens) < 2:
		return res, fmt.Errorf("score: %d tokens: want at least 2", len(req.Tokens))
	case len(req.Tokens) > e.info.SlotContext:
		return res, fmt.Errorf("%w: %d tokens, context %d", modelserver.ErrPromptTooLong, len(req.Tokens), e.info.SlotContext)
	case req.TopLogprobs < 0 || req.TopLogprobs > modelserver.MaxTopLogprobs:
		return res, fmt.Errorf("score: top logprobs %d: want 0 to %d", req.TopLogprobs, modelserver.MaxTopLogprobs)
	}
	for i, ids := range req.Named {
		for _, id := range ids {
			if id < 0 || id >= e.info.VocabSize {
				return res, fmt.Errorf("score: position %d: token id %d outside the vocabulary of %d", i, id, e.info.VocabSize)
			}
		}
	}
	seq := newScoreSequence(ctx, req, res.Started)
	defer seq.cancel(nil)
	if err := e.enqueue(ctx, seq); err != nil {
		return res, err
	}
	if _, err := seq.wait(func(modelserver.Piece) error { return nil }); err != nil {
		return res, err
	}
	if n := len(seq.score.positions); n != len(req.Tokens)-1 {
		return res, fmt.Errorf("score: ended after %d of %d positions", n, len(req.Tokens)-1)
	}
	res.Positions, res.Finished = seq.score.positions, time.Now()
	return res, nil
}

// enqueue hands seq to the decode loop.
func (e *Engine) enqueue(ctx context.Context, seq *sequence) error {
	select {
	case e.submit <- seq:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (e *Engine) check(req modelserver.GenerateRequest) error {
	switch {
	case len(req.Prompt) == 0:
		return fmt.Errorf("generate: empty prompt")
	case req.MaxTokens <= 0:
		return fmt.Errorf("generate: max tokens %d: want > 0", req.MaxTokens)
	case len(req.Prompt) >= e.info.SlotContext:
		return fmt.Errorf("%w: %d tokens, context %d", modelserver.ErrPromptTooLong, len(req.Prompt), e.info.SlotContext)
	case req.TopLogprobs < 0 || req.TopLogprobs > modelserver.MaxTopLogprobs:
		return fmt.Errorf("generate: top logprobs %d: want 0 to %d", req.TopLogprobs, modelserver.MaxTopLogprobs)
	}
	return nil
}

// samplingParams sets every field: zero values are not neutral in llama.cpp
// (TypicalP 0 samples off the argmax even at temperature 0).
func samplingParams(req modelserver.GenerateRequest) llama.SamplingParams {
	p := llama.SamplingParams{
		TopK: 40, TopP: req.TopP, MinP: 0.05, TypicalP: 1, Temp: req.Temperature,
		RepeatLastN: 64, PenaltyRepeat: 1, Seed: req.Seed,
	}
	if p.TopP <= 0 || p.TopP > 1 {
		p.TopP = 1
	}
	if p.Temp <= 0 {
		p.Temp, p.TopK, p.TopP, p.MinP = 0, 1, 1, 0
	}
	if p.Seed == 0 {
		p.Seed = rand.Uint32()
	}
	return p
}

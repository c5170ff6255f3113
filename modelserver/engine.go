package modelserver

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Engine runs inference on one loaded model. Package llm provides the
// llama.cpp engine; the server sees only this interface, so its pure-Go parts
// build and test (with -race) without compiling llama.cpp.
type Engine interface {
	// Tokenize turns rendered prompt text into tokens, parsing special tokens
	// such as <|im_start|> and adding BOS when the model asks for it.
	// It is safe to call from any goroutine.
	Tokenize(text string) ([]int, error)
	// TokenizeText tokenizes plain text to be scored: special tokens are
	// text like any other, BOS is added when the model asks for it.
	TokenizeText(text string) ([]int, error)
	// TokenPiece is the text of one token, as the model renders it.
	TokenPiece(id int) string
	// Generate runs one generation in a free slot, batched with the others.
	// emit receives the text as it is produced, always valid UTF-8 and never
	// an end-of-generation token, and with req.Logprobs the log-probabilities
	// of the tokens sampled since the last piece (a token whose text is an
	// incomplete UTF-8 character comes before its text). emit runs on the
	// caller's goroutine, and an error from it stops the generation.
	// Cancelling ctx stops the generation and frees the slot at the next
	// decode step. The caller must not run more than Info().Slots
	// generations and scorings at once (ErrBusy).
	Generate(ctx context.Context, req GenerateRequest, emit func(Piece) error) (GenerateResult, error)
	// Score computes the log-probability of every token of req.Tokens after
	// the first, each conditioned on the tokens before it, in a free slot
	// like a generation. While other slots run, its decode steps are short
	// and take at most a quarter of the time, so a long text does not stall
	// their replies.
	Score(ctx context.Context, req ScoreRequest) (ScoreResult, error)
	// Info describes the loaded model and its context.
	Info() EngineInfo
}

// LoadFunc loads a model into an Engine. It blocks for the whole load; the
// server calls it in the background so that /healthz answers meanwhile.
type LoadFunc func(ctx context.Context, cfg EngineConfig, log *slog.Logger) (Engine, error)

// EngineConfig is what an engine needs to load a model.
type EngineConfig struct {
	Path           string // GGUF file, mapped read-only
	Threads        int    // CPU threads for decoding
	Parallel       int    // sequences decoded together (slots)
	Ctx            int    // context window of each slot, in tokens
	Batch          int    // prompt tokens decoded per step
	FlashAttention bool
}

// EngineInfo describes a loaded engine.
type EngineInfo struct {
	Slots          int  `json:"slots"`
	SlotContext    int  `json:"slot_context"`
	Threads        int  `json:"threads"`
	FlashAttention bool `json:"flash_attention"`
	VocabSize      int  `json:"vocab_size"`
	// RepackBytes is the size of llama.cpp's CPU_REPACK weight buffer: the
	// quantized weights re-laid out for AVX2, copied out of the mapped file.
	RepackBytes int64 `json:"repack_bytes"`
}

// GenerateRequest is one generation: a prompt in tokens and how to sample.
type GenerateRequest struct {
	Prompt      []int
	MaxTokens   int
	Temperature float32 // 0 means greedy
	TopP        float32 // 0 means 1
	Seed        uint32  // 0 means random
	// CheckLogits makes the engine verify that every sampled distribution is
	// finite, so the readiness probe catches degenerate (NaN) weights.
	CheckLogits bool
	// Logprobs hands emit each sampled token's log-probability under the
	// model (the log-softmax of its logits, before temperature and
	// sampling), with the TopLogprobs (0 to MaxTopLogprobs) most likely.
	Logprobs    bool
	TopLogprobs int
}

// Piece is what a generation hands its caller at a time.
type Piece struct {
	Text     string
	Logprobs []TokenLogprobs // with GenerateRequest.Logprobs
}

// ScoreRequest is a text to score, in tokens.
type ScoreRequest struct {
	Tokens      []int // at least 2, at most the slot context
	TopLogprobs int   // 0 to MaxTopLogprobs alternatives per position
	// Named lists, per scored position (Named[i] for Tokens[i+1]), token
	// ids whose log-probabilities to report there; it may be shorter than
	// the positions, or nil.
	Named [][]int
}

// ScoreResult is a scored text.
type ScoreResult struct {
	// Positions holds one entry per token after the first: Positions[i] is
	// Tokens[i+1]'s log-probability given Tokens[:i+1].
	Positions []TokenLogprobs
	Started   time.Time
	Finished  time.Time
}

// GenerateResult reports how a generation went.
type GenerateResult struct {
	PromptTokens     int
	CachedTokens     int // prompt tokens reused from the slot's KV cache
	CompletionTokens int
	FinishReason     string // "stop", "length" or "cancelled"
	Started          time.Time
	FirstToken       time.Time // zero when no token was sampled
	Finished         time.Time
}

// Finish reasons, as OpenAI names them.
const (
	FinishStop      = "stop"
	FinishLength    = "length"
	FinishCancelled = "cancelled"
)

// Engine errors that callers branch on.
var (
	// ErrBusy means every slot is taken; the caller's admission is wrong.
	ErrBusy = errors.New("engine: no free slot")
	// ErrPromptTooLong means the prompt does not fit in a slot's context.
	ErrPromptTooLong = errors.New("prompt too long for the context")
	// ErrDegenerate means the model produced non-finite logits.
	ErrDegenerate = errors.New("model produced non-finite logits")
)

package llm

import (
	"context"
	"sync"
	"time"

	"github.com/ollama/ollama/llama"

	"github.com/zero-downtime-ml/zdml/modelserver"
)

// sequence is one generation or scoring in flight. The decode loop writes to it and the
// caller of Generate reads from it; they meet only under mu, and the loop
// never waits for the caller, so a slow client cannot stall the batch.
type sequence struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	req     modelserver.GenerateRequest
	sampler *llama.SamplingContext // nil for a scoring
	score   *scoreJob              // nil for a generation

	// Owned by the decode loop.
	slot      *slot
	pending   []int // prompt tokens not decoded yet
	last      int   // last sampled token, decoded in the next step
	generated int   // tokens sampled so far
	inBatch   int   // tokens of this sequence in the current batch
	logitAt   int   // batch index whose logits to sample, or -1
	batchAt   int   // batch index of this sequence's first token in the batch
	text      textBuffer

	notify chan struct{} // capacity 1: "look at out"

	mu   sync.Mutex
	out  []byte
	lps  []modelserver.TokenLogprobs
	done bool
	res  modelserver.GenerateResult
	err  error
}

func newSequence(ctx context.Context, req modelserver.GenerateRequest, sampler *llama.SamplingContext, started time.Time) *sequence {
	ctx, cancel := context.WithCancelCause(ctx)
	return &sequence{
		ctx:     ctx,
		cancel:  cancel,
		req:     req,
		sampler: sampler,
		logitAt: -1,
		notify:  make(chan struct{}, 1),
		res:     modelserver.GenerateResult{Started: started, PromptTokens: len(req.Prompt)},
	}
}

// scoreJob is a scoring's request and, filled by the decode loop, its
// result: positions[i] is tokens[i+1]'s log-probability.
type scoreJob struct {
	req       modelserver.ScoreRequest
	positions []modelserver.TokenLogprobs
}

func newScoreSequence(ctx context.Context, req modelserver.ScoreRequest, started time.Time) *sequence {
	s := newSequence(ctx, modelserver.GenerateRequest{Prompt: req.Tokens}, nil, started)
	s.score = &scoreJob{req: req, positions: make([]modelserver.TokenLogprobs, 0, len(req.Tokens)-1)}
	return s
}

// put hands text, and the log-probability of the token that made it when
// the caller asked for it, to the caller (decode loop side).
func (s *sequence) put(text string, lp *modelserver.TokenLogprobs) {
	if text == "" && lp == nil {
		return
	}
	s.mu.Lock()
	s.out = append(s.out, text...)
	if lp != nil {
		s.lps = append(s.lps, *lp)
	}
	s.mu.Unlock()
	s.wake()
}

// tokenSampled counts a generated token (decode loop side).
func (s *sequence) tokenSampled(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res.CompletionTokens == 0 {
		s.res.FirstToken = now
	}
	s.res.CompletionTokens++
}

// finish ends the sequence (decode loop side).
func (s *sequence) finish(reason string, err error) {
	s.put(s.text.flush(), nil)
	s.mu.Lock()
	s.done = true
	s.res.FinishReason = reason
	s.res.Finished = time.Now()
	s.err = err
	s.mu.Unlock()
	s.wake()
}

func (s *sequence) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// take returns what was produced since the last take and whether the
// sequence is done (caller side).
func (s *sequence) take() (modelserver.Piece, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := modelserver.Piece{Text: string(s.out), Logprobs: s.lps}
	s.out, s.lps = s.out[:0], nil
	return p, s.done
}

// wait forwards what is produced to emit until the loop finishes the
// sequence. If emit fails it cancels the sequence and still waits, so the
// slot is free when Generate returns.
func (s *sequence) wait(emit func(modelserver.Piece) error) (modelserver.GenerateResult, error) {
	var emitErr error
	for range s.notify {
		p, done := s.take()
		if (p.Text != "" || len(p.Logprobs) > 0) && emitErr == nil {
			if emitErr = emit(p); emitErr != nil {
				s.cancel(emitErr)
			}
		}
		if done {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if emitErr != nil && s.err == nil {
		s.err = emitErr
	}
	return s.res, s.err
}

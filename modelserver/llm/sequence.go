package llm

import (
	"context"
	"sync"
	"time"

	"github.com/ollama/ollama/llama"

	"github.com/zero-downtime-ml/zdml/modelserver"
)

// sequence is one generation in flight. The decode loop writes to it and the
// caller of Generate reads from it; they meet only under mu, and the loop
// never waits for the caller, so a slow client cannot stall the batch.
type sequence struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	req     modelserver.GenerateRequest
	sampler *llama.SamplingContext

	// Owned by the decode loop.
	slot      *slot
	pending   []int // prompt tokens not decoded yet
	last      int   // last sampled token, decoded in the next step
	generated int   // tokens sampled so far
	inBatch   int   // tokens of this sequence in the current batch
	logitAt   int   // batch index whose logits to sample, or -1
	text      textBuffer

	notify chan struct{} // capacity 1: "look at out"

	mu   sync.Mutex
	out  []byte
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

// put hands text to the caller (decode loop side).
func (s *sequence) put(text string) {
	if text == "" {
		return
	}
	s.mu.Lock()
	s.out = append(s.out, text...)
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
	s.put(s.text.flush())
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

// take returns the text produced since the last take and whether the
// sequence is done (caller side).
func (s *sequence) take() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	text := string(s.out)
	s.out = s.out[:0]
	return text, s.done
}

// wait forwards text to emit until the loop finishes the sequence. If emit
// fails it cancels the sequence and still waits, so the slot is free when
// Generate returns.
func (s *sequence) wait(emit func(string) error) (modelserver.GenerateResult, error) {
	var emitErr error
	for range s.notify {
		text, done := s.take()
		if text != "" && emitErr == nil {
			if emitErr = emit(text); emitErr != nil {
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

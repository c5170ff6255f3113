package llm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ollama/ollama/llama"

	"github.com/zero-downtime-ml/zdml/modelserver"
)

// run is the decode loop: the only goroutine that touches the llama context.
// Each step admits new sequences, drops cancelled ones, puts one token of
// every generating sequence and a bounded share of pending prompts into one
// batch, decodes it and samples every sequence whose logits are ready.
func (e *Engine) run() {
	// A step holds at most Batch prompt tokens or one token per sequence,
	// within the batch's capacity and the context's n_batch (Batch*Parallel).
	batch, err := llama.NewBatch(e.cfg.Batch, e.cfg.Parallel, 0)
	if err != nil {
		e.log.Error("decode loop cannot start", "err", err)
		e.fail(fmt.Errorf("decode loop: %w", err))
		return
	}
	var active []*sequence
	for {
		if len(active) == 0 {
			active = e.admit(active, <-e.submit)
		}
		active = e.admitWaiting(active)
		active = e.step(batch, active)
	}
}

// fail answers every submission with err, forever: the loop could not start.
func (e *Engine) fail(err error) {
	for s := range e.submit {
		s.finish(modelserver.FinishCancelled, err)
	}
}

func (e *Engine) admitWaiting(active []*sequence) []*sequence {
	for {
		select {
		case s := <-e.submit:
			active = e.admit(active, s)
		default:
			return active
		}
	}
}

// admit gives s a slot, keeping the cached prefix its prompt shares.
func (e *Engine) admit(active []*sequence, s *sequence) []*sequence {
	sl := pickSlot(e.slots, s.req.Prompt)
	if sl == nil {
		s.finish(modelserver.FinishCancelled, modelserver.ErrBusy)
		return active
	}
	keep := commonPrefix(sl.cached, s.req.Prompt)
	if keep == len(s.req.Prompt) {
		keep-- // decode at least one token to get logits
	}
	if !e.lc.KvCacheSeqRm(sl.id, keep, -1) {
		e.lc.KvCacheSeqRm(sl.id, 0, -1)
		keep = 0
	}
	sl.cached, sl.busy = sl.cached[:keep], true
	s.slot, s.pending = sl, s.req.Prompt[keep:]
	s.res.CachedTokens = keep
	active = append(active, s)
	slices.SortFunc(active, func(a, b *sequence) int { return a.slot.id - b.slot.id })
	return active
}

func (e *Engine) step(batch *llama.Batch, active []*sequence) []*sequence {
	active = e.dropCancelled(active)
	if len(active) == 0 {
		return active
	}
	batch.Clear()
	if !e.addPrompts(batch, active) {
		for _, s := range active {
			s.logitAt = batch.NumTokens()
			s.inBatch = 1
			batch.Add(s.last, nil, len(s.slot.cached), true, s.slot.id)
		}
	}
	if err := e.lc.Decode(batch); err != nil {
		return e.decodeFailed(active, err)
	}
	now := time.Now()
	keep := active[:0]
	for _, s := range active {
		if e.advance(s, now) {
			keep = append(keep, s)
		}
	}
	return keep
}

// addPrompts fills the batch with chunks of pending prompts, up to the
// step's prompt budget, and reports whether there were any.
//
// The binding's context keeps one KV stream per sequence (kv_unified off,
// and it cannot be turned on), so llama.cpp splits a batch into micro-batches
// holding the same number of tokens from sequences with consecutive ids. A
// batch mixing a 40-token prompt with other sequences' single generated
// tokens would take 40 forward passes. So a step is either all prompts or
// one token for every generating sequence, tokens always in slot order, and
// slots are handed out lowest id first (see pickSlot) to keep ids
// consecutive. Prompts go first: a new request waits one step, the others
// lose one step per admission.
func (e *Engine) addPrompts(batch *llama.Batch, active []*sequence) bool {
	budget, any := e.cfg.Batch, false
	for i := range active {
		// Rotate who gets the budget first, so one long prompt cannot
		// starve the others.
		s := active[(i+e.rotate)%len(active)]
		s.inBatch, s.logitAt = min(len(s.pending), budget), -1
		budget -= s.inBatch
		any = any || len(s.pending) > 0
	}
	if !any {
		return false
	}
	e.rotate++
	for _, s := range active {
		pos := len(s.slot.cached)
		for i := range s.inBatch {
			last := i == s.inBatch-1 && s.inBatch == len(s.pending)
			if last {
				s.logitAt = batch.NumTokens()
			}
			batch.Add(s.pending[i], nil, pos+i, last, s.slot.id)
		}
	}
	return true
}

// advance records what the decode put in s's cache and samples s's next
// token when its logits are ready. It reports whether s is still active.
func (e *Engine) advance(s *sequence, now time.Time) bool {
	if s.inBatch == 0 {
		return true
	}
	if len(s.pending) > 0 {
		s.slot.cached = append(s.slot.cached, s.pending[:s.inBatch]...)
		s.pending = s.pending[s.inBatch:]
	} else {
		s.slot.cached = append(s.slot.cached, s.last)
	}
	s.inBatch = 0
	if s.logitAt < 0 {
		return true
	}
	idx := s.logitAt
	s.logitAt = -1
	if s.req.CheckLogits && !finite(e.lc.GetLogitsIth(idx)) {
		e.release(s, modelserver.FinishStop, modelserver.ErrDegenerate)
		return false
	}
	tok := s.sampler.Sample(e.lc, idx)
	s.sampler.Accept(tok, true)
	if e.model.TokenIsEog(tok) {
		e.release(s, modelserver.FinishStop, nil)
		return false
	}
	s.generated++
	s.tokenSampled(now)
	s.put(s.text.add(e.model.TokenToPiece(tok)))
	s.last = tok
	if s.generated >= s.req.MaxTokens || len(s.slot.cached) >= e.info.SlotContext {
		e.release(s, modelserver.FinishLength, nil)
		return false
	}
	return true
}

func (e *Engine) dropCancelled(active []*sequence) []*sequence {
	keep := active[:0]
	for _, s := range active {
		if s.ctx.Err() != nil {
			e.release(s, modelserver.FinishCancelled, context.Cause(s.ctx))
			continue
		}
		keep = append(keep, s)
	}
	return keep
}

// decodeFailed undoes the batch in every sequence's cache. A full KV cache
// ends the longest sequence with finish reason "length" and lets the others
// retry; any other error fails the whole batch.
func (e *Engine) decodeFailed(active []*sequence, err error) []*sequence {
	var victim *sequence
	for _, s := range active {
		if s.inBatch > 0 {
			e.lc.KvCacheSeqRm(s.slot.id, len(s.slot.cached), -1)
		}
		if victim == nil || len(s.slot.cached) > len(victim.slot.cached) {
			victim = s
		}
		s.inBatch, s.logitAt = 0, -1
	}
	if errors.Is(err, llama.ErrKvCacheFull) {
		e.log.Warn("kv cache full, ending the longest sequence", "slot", victim.slot.id, "tokens", len(victim.slot.cached))
		e.release(victim, modelserver.FinishLength, nil)
		keep := active[:0]
		for _, s := range active {
			if s != victim {
				keep = append(keep, s)
			}
		}
		return keep
	}
	// Anything else is llama.cpp failing: every active sequence fails, and
	// the readiness probe will notice if it persists.
	e.log.Error("decode failed", "err", err, "sequences", len(active))
	for _, s := range active {
		e.release(s, modelserver.FinishCancelled, fmt.Errorf("decode: %w", err))
	}
	return active[:0]
}

// release frees s's slot, keeping its cache for a later prefix match.
func (e *Engine) release(s *sequence, reason string, err error) {
	s.slot.busy = false
	s.finish(reason, err)
}

func finite(logits []float32) bool {
	if len(logits) == 0 {
		return false
	}
	for _, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

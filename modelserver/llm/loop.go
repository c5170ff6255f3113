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
	switch {
	case s.score != nil:
		keep = 0 // every position's logits are wanted
	case keep == len(s.req.Prompt):
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

// Scoring beside replies. A scoring is a long run of prompt-like steps, and
// prompt steps go first: left alone it would stall every reply on the color
// for the whole text (the 1 GB model scores a few dozen positions a second
// on one core). So while other sequences run (their prompts or replies),
// scoring steps are short and take at most a share of the loop's time.
const (
	// scoreChunk bounds the positions a step scores when nothing else
	// generates. Each one's logits are copied out (a vocabulary's worth:
	// 49,152 floats on the 1 GB model), and llama.cpp keeps an output
	// buffer as large as the most logits one decode ever returned.
	scoreChunk = 32
	// scoreChunkBeside bounds them while other sequences run: each scoring
	// step is a pause in their replies.
	scoreChunkBeside = 8
	// scoreShare is the largest part (1/scoreShare) of the loop's time that
	// scoring steps take while other sequences run: each one's time is paid
	// back by scoreShare-1 times as much time of their steps before the next
	// (see account).
	scoreShare = 4
	// trafficMemory is how long after other sequences ran scoring steps
	// stay short and charged to the share.
	trafficMemory = time.Second
)

// Step kinds, for the scoring's time share.
const (
	stepPrompt = iota // prompts only
	stepScore         // a scoring's positions, maybe prompts too
	stepReply         // one token of every generating sequence
)

func (e *Engine) step(batch *llama.Batch, active []*sequence) []*sequence {
	active = e.dropCancelled(active)
	if len(active) == 0 {
		return active
	}
	e.plan(batch, active)
	start := time.Now()
	if err := e.lc.Decode(batch); err != nil {
		return e.decodeFailed(active, err)
	}
	now := time.Now()
	e.account(now.Sub(start))
	keep := active[:0]
	for _, s := range active {
		if e.advance(s, now) {
			keep = append(keep, s)
		}
	}
	return keep
}

// plan fills the batch for one step: prompts and scorings, or one token of
// every generating sequence.
func (e *Engine) plan(batch *llama.Batch, active []*sequence) {
	batch.Clear()
	now, busy := time.Now(), traffic(active)
	if busy {
		e.lastTraffic = now
	}
	// A client pausing between requests still counts, or a whole scoring
	// step would start in each pause and hold up its next request.
	e.beside = busy || now.Sub(e.lastTraffic) < trafficMemory
	e.kind = stepReply
	if e.addPrompts(batch, active, busy && e.scoreDebt > 0) {
		e.kind = stepPrompt
		for _, s := range active {
			if s.score != nil && s.inBatch > 0 {
				e.kind = stepScore
			}
		}
		return
	}
	e.addReplies(batch, active)
}

// account charges a step's decode time to the scoring's time share: a
// scoring step beside other sequences adds its time to the debt, a step of
// theirs (prompts or replies) pays back 1/(scoreShare-1) of its own;
// scorings wait while the debt is positive and others run.
func (e *Engine) account(d time.Duration) {
	switch {
	case e.kind == stepScore && e.beside:
		e.scoreDebt += d
	case e.kind != stepScore:
		e.scoreDebt = max(0, e.scoreDebt-d/(scoreShare-1))
	}
}

// traffic reports whether a sequence other than a scoring runs: a prompt
// being decoded or a reply being generated.
func traffic(active []*sequence) bool {
	for _, s := range active {
		if s.score == nil {
			return true
		}
	}
	return false
}

// addReplies puts one token of every generating sequence into the batch.
func (e *Engine) addReplies(batch *llama.Batch, active []*sequence) {
	for _, s := range active {
		if s.score != nil {
			s.inBatch = 0
			continue
		}
		s.logitAt = batch.NumTokens()
		s.inBatch = 1
		batch.Add(s.last, nil, len(s.slot.cached), true, s.slot.id)
	}
}

// addPrompts fills the batch with chunks of pending prompts and texts to
// score (those only when skipScore is false), up to the step's prompt
// budget, and reports whether there were any.
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
func (e *Engine) addPrompts(batch *llama.Batch, active []*sequence, skipScore bool) bool {
	budget, scoreBudget, any := e.cfg.Batch, scoreChunk, false
	if e.beside {
		scoreBudget = scoreChunkBeside
	}
	for i := range active {
		// Rotate who gets the budget first, so one long prompt cannot
		// starve the others.
		s := active[(i+e.rotate)%len(active)]
		s.inBatch, s.logitAt = 0, -1
		if s.score != nil && skipScore {
			continue
		}
		s.inBatch = min(len(s.pending), budget)
		if s.score != nil {
			s.inBatch = min(s.inBatch, scoreBudget)
			scoreBudget -= s.inBatch
		}
		budget -= s.inBatch
		any = any || len(s.pending) > 0
	}
	if !any {
		return false
	}
	e.rotate++
	for _, s := range active {
		pos := len(s.slot.cached)
		s.batchAt = batch.NumTokens()
		for i := range s.inBatch {
			logits := i == s.inBatch-1 && s.inBatch == len(s.pending)
			if s.score != nil {
				logits = pos+i < len(s.req.Prompt)-1 // the last token predicts nothing scored
			} else if logits {
				s.logitAt = batch.NumTokens()
			}
			batch.Add(s.pending[i], nil, pos+i, logits, s.slot.id)
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
	if s.score != nil {
		return e.advanceScore(s)
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
	var logits []float32
	if s.req.CheckLogits || s.req.Logprobs {
		logits = e.lc.GetLogitsIth(idx)
	}
	if s.req.CheckLogits && !finite(logits) {
		e.release(s, modelserver.FinishStop, modelserver.ErrDegenerate)
		return false
	}
	tok := s.sampler.Sample(e.lc, idx)
	s.sampler.Accept(tok, true)
	if e.model.TokenIsEog(tok) {
		e.release(s, modelserver.FinishStop, nil)
		return false
	}
	var lp *modelserver.TokenLogprobs
	if s.req.Logprobs {
		l, ok := modelserver.PositionLogprobs(logits, tok, s.req.TopLogprobs, nil)
		if !ok {
			e.release(s, modelserver.FinishStop, modelserver.ErrDegenerate)
			return false
		}
		lp = &l
	}
	s.generated++
	s.tokenSampled(now)
	s.put(s.text.add(e.model.TokenToPiece(tok)), lp)
	s.last = tok
	if s.generated >= s.req.MaxTokens || len(s.slot.cached) >= e.info.SlotContext {
		e.release(s, modelserver.FinishLength, nil)
		return false
	}
	return true
}

// advanceScore turns the logits of a scoring's tokens in this batch into
// the log-probabilities of the tokens that follow them.
func (e *Engine) advanceScore(s *sequence) bool {
	job, pos := s.score, len(s.slot.cached)
	var err error
	for i := 0; i < s.inBatch && pos+i < len(job.req.Tokens)-1; i++ {
		p := pos + i
		var named []int
		if p < len(job.req.Named) {
			named = job.req.Named[p]
		}
		lp, ok := modelserver.PositionLogprobs(e.lc.GetLogitsIth(s.batchAt+i), job.req.Tokens[p+1], job.req.TopLogprobs, named)
		if !ok {
			err = modelserver.ErrDegenerate
			break
		}
		job.positions = append(job.positions, lp)
	}
	s.slot.cached = append(s.slot.cached, s.pending[:s.inBatch]...)
	s.pending = s.pending[s.inBatch:]
	s.inBatch = 0
	if err != nil || len(s.pending) == 0 {
		e.release(s, modelserver.FinishStop, err)
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

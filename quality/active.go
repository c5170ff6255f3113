package quality

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// activeSide is the active color's side of one judgement: its golden
// replies and its held-out segments, each from the cache or asked when
// first needed, one request at a time and paced. A judgement that decides
// early asks the active only for the segments it compared; the rest are
// scored by a later judgement that needs them, or by Prefetch.
type activeSide struct {
	g      *Gate
	c      *client
	q      spec.Quality
	segs   []string
	key    string     // "" when the model's sha256 is unknown: nothing is cached
	ref    *reference // what is known so far; never modified, replaced
	cached bool       // every part used so far came from the cache
	took   time.Duration
}

func (g *Gate) activeSide(c *client, v *Verdict, q spec.Quality, segs []string) *activeSide {
	a := &activeSide{g: g, c: c, q: q, segs: segs, cached: true}
	if v.Active.SHA256 != "" {
		a.key = refKey(v.Active.SHA256, v.HeldOutDigest, q)
	}
	return a
}

// known is the newest reference: the cache's, when it holds more.
func (a *activeSide) known() *reference {
	if a.key == "" {
		return a.ref
	}
	if ref, ok := a.g.cache.get(a.key); ok && (a.ref == nil || len(ref.Segments) > len(a.ref.Segments)) {
		a.ref = ref
	}
	return a.ref
}

// replies returns the active's golden replies.
func (a *activeSide) replies(ctx context.Context) ([]reply, error) {
	if ref := a.known(); ref != nil {
		return ref.Replies, nil
	}
	err := a.ask(ctx, func() error {
		ref := &reference{}
		for _, p := range a.q.Prompts {
			start := time.Now()
			r, err := a.c.complete(ctx, p.Prompt, a.q.MaxTokens)
			if err == nil {
				err = pace(ctx, start)
			}
			if err != nil {
				return fmt.Errorf("golden prompt on the active: %w", err)
			}
			ref.Replies = append(ref.Replies, r)
		}
		a.keep(ref)
		return nil
	}, func() bool { return a.known() != nil })
	if err != nil {
		return nil, err
	}
	return a.ref.Replies, nil
}

// segment returns the active's scores of held-out segment i, and false
// when the text or the heldOutTokens budget ends before it. replies must
// have been called.
func (a *activeSide) segment(ctx context.Context, i int) (refSegment, bool, error) {
	if a.known() == nil {
		return refSegment{}, false, errors.New("the active's replies are not known")
	}
	if len(a.ref.Segments) > i {
		return a.ref.Segments[i], true, nil
	}
	if a.left(a.ref) < 2 {
		return refSegment{}, false, nil
	}
	err := a.ask(ctx, func() error {
		left := a.left(a.ref)
		if left < 2 {
			return nil
		}
		start := time.Now()
		res, err := a.c.score(ctx, scoreRequest{Text: a.segs[len(a.ref.Segments)], TopLogprobs: KLTopK, Truncate: min(left, maxSegmentTokens)})
		if err != nil {
			return fmt.Errorf("score the active: %w", err)
		}
		// Kept before the pause: a judgement waiting for this segment
		// takes it from the cache without waiting for the active's slot.
		a.keep(&reference{Replies: a.ref.Replies, Segments: append(slices.Clip(a.ref.Segments), refSegmentOf(a.segs[len(a.ref.Segments)], res))})
		if err := pace(ctx, start); err != nil {
			return fmt.Errorf("score the active: %w", err)
		}
		return nil
	}, func() bool { return len(a.known().Segments) > i })
	if err != nil || len(a.ref.Segments) <= i {
		return refSegment{}, false, err
	}
	return a.ref.Segments[i], true, nil
}

// more reports whether segment i exists or can be scored; segments
// before it must be known.
func (a *activeSide) more(i int) bool {
	return len(a.ref.Segments) > i || a.left(a.ref) >= 2
}

// left is how many tokens of the budget ref's segments leave, 0 when the
// text has no segment after them.
func (a *activeSide) left(ref *reference) int {
	if len(ref.Segments) >= len(a.segs) {
		return 0
	}
	n := a.q.HeldOutTokens
	for _, s := range ref.Segments {
		n -= len(s.Tokens)
	}
	return n
}

// ask runs one request to the active while holding the gate's active
// slot, unless done reports that a judgement or a Prefetch beside this one
// has asked it meanwhile: checked while waiting for the slot (the other
// keeps what it scored before its pause) and once it is held.
func (a *activeSide) ask(ctx context.Context, do func() error, done func() bool) error {
	tick := time.NewTicker(askPoll)
	defer tick.Stop()
	for held := false; !held; {
		select {
		case a.g.active <- struct{}{}:
			held = true
		case <-tick.C:
			if a.key != "" && done() {
				return nil
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	defer func() { <-a.g.active }()
	if a.key != "" && done() {
		return nil
	}
	start := time.Now()
	defer func() { a.took += time.Since(start) }()
	a.cached = false
	return do()
}

// askPoll is how often a request waiting for the active's slot checks
// whether the one holding it has answered it already.
const askPoll = 50 * time.Millisecond

// keep makes ref the known reference and caches it.
func (a *activeSide) keep(ref *reference) {
	a.ref = ref
	if a.key == "" {
		return
	}
	if err := a.g.cache.put(a.key, ref); err != nil {
		a.g.log.Warn("quality cache not written; the active will be scored again", "err", err)
	}
}

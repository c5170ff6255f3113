package quality

import (
	"context"
	"errors"
	"fmt"

	"github.com/zero-downtime-ml/zdml/spec"
)

// ErrNotCacheable is an active whose model sha256 is not known (the
// server is still hashing its file): its side cannot be kept for later.
var ErrNotCacheable = errors.New("quality: the active's model sha256 is not known yet; its side cannot be cached")

// Prefetch scores the active's side (the golden replies and the held-out
// text, the whole heldOutTokens, which a judgement near a bound needs)
// into the cache, paced and one request at a time as Judge does, so
// that a Judge against the same active model, text and settings asks only
// the candidate. The reconciler runs it while the standby loads. It asks
// nothing when the cache has the side already, and a Judge beside it
// scoring the same active takes turns with it, request by request, each
// using what the other scored: the active's next segment is scored while
// the candidate scores this one. Once a Judge beside it has ended, Prefetch
// stops after its current request: a judgement may settle early, and the
// rest of the text is not needed (a scoring left running would hold up
// the old color's drain).
func (g *Gate) Prefetch(ctx context.Context, active Target, q spec.Quality, heldOut string) (*Side, error) {
	judged := g.judged.Load()
	q = withDefaults(q)
	ctx, cancel := context.WithTimeout(ctx, q.Timeout.Duration)
	defer cancel()
	v, segs, err := newVerdict(q, heldOut)
	if err != nil {
		return nil, err
	}
	ac := newClient(g.http, active.Addr)
	if v.Active, err = side(ctx, ac, active); err != nil {
		return nil, fmt.Errorf("quality: active: %w", err)
	}
	if v.Active.SHA256 == "" {
		return nil, ErrNotCacheable
	}
	as := g.activeSide(ac, v, q, segs)
	if _, err := as.replies(ctx); err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	for i := 0; g.judged.Load() == judged; i++ {
		_, ok, err := as.segment(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("quality: %w", err)
		}
		if !ok {
			break
		}
	}
	v.Active.Duration, v.ActiveCached = as.took, as.cached
	for _, seg := range as.ref.Segments {
		v.Active.Tokens += len(seg.Logprobs)
	}
	return &v.Active, nil
}

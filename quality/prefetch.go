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
// into the cache when none of it is there, paced and one request at a
// time as Judge does, so that a Judge against the same active model, text
// and settings asks only the candidate. The reconciler runs it from a
// deploy's start. It asks nothing when the cache holds the side, even in
// part (see prefetch). A Judge beside it scoring the same active takes
// turns with it, request by request, each using what the other scored: the
// active's next segment is scored while the candidate scores this one.
// Once a Judge beside it has ended, Prefetch stops after its current
// request: a judgement may settle early, and the rest of the text is not
// needed (a scoring left running would hold up the old color's drain). The
// side it returns, with an error too, says what it asked: Duration and the
// Tokens known.
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
	err = as.prefetch(ctx, judged)
	v.Active.Duration, v.ActiveCached = as.took, as.cached
	if as.ref != nil {
		for _, seg := range as.ref.Segments {
			v.Active.Tokens += len(seg.Logprobs)
		}
	}
	if err != nil {
		return &v.Active, fmt.Errorf("quality: %w", err)
	}
	return &v.Active, nil
}

// prefetch asks the active for its replies and then segment after segment,
// until the text or the budget ends or a judgement begun after judged ends.
// A side already cached, even in part, is left alone: it was kept when the
// active was judged, as far as that judgement needed, and a judgement now
// asks the active for more only if it needs more (steady state: the
// active, which serves users, is not asked on every deploy).
func (a *activeSide) prefetch(ctx context.Context, judged int64) error {
	if a.known() != nil {
		return nil
	}
	if _, err := a.replies(ctx); err != nil {
		return err
	}
	for i := 0; a.g.judged.Load() == judged; i++ {
		if _, ok, err := a.segment(ctx, i); err != nil || !ok {
			return err
		}
	}
	return nil
}

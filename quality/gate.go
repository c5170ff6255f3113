package quality

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Gate runs the quality judgement. One Gate per process: it lets one
// request at a time reach an active color.
type Gate struct {
	http   *http.Client
	cache  *Cache
	log    *slog.Logger
	active chan struct{} // held while the active is asked anything
}

// Option configures a Gate.
type Option func(*Gate)

// WithCache keeps the active's side between judgements (NewCache).
func WithCache(c *Cache) Option { return func(g *Gate) { g.cache = c } }

// WithHTTPClient replaces the default client (no proxy, no keep-alive).
func WithHTTPClient(c *http.Client) Option { return func(g *Gate) { g.http = c } }

// WithLogger logs what the gate does.
func WithLogger(l *slog.Logger) Option { return func(g *Gate) { g.log = l } }

// New returns a Gate with an in-memory cache.
func New(opts ...Option) *Gate {
	g := &Gate{
		http:   &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}},
		cache:  NewCache(""),
		log:    slog.New(slog.DiscardHandler),
		active: make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Target is one model server.
type Target struct {
	Addr string // host:port or http://host:port
	// SHA256 is the served model file's, which keys the active's cache;
	// empty means /health/deep's model.sha256 (not cached while the
	// server is still computing it).
	SHA256 string
}

// Judge runs q's golden prompts on both servers (greedy, fixed seed) and
// scores heldOut on both (DefaultHeldOut when empty), and returns the
// verdict. An error means a server could not be asked (down, busy, a bad
// answer), not that the candidate failed: that is Verdict.Pass false. Zero
// fields of q take spec's defaults. The active is asked one request at a
// time, at most q.HeldOutTokens tokens of the text, and only when the
// cache has nothing for its model and this text and settings.
func (g *Gate) Judge(ctx context.Context, active, candidate Target, q spec.Quality, heldOut string) (*Verdict, error) {
	start := time.Now()
	q = withDefaults(q)
	ctx, cancel := context.WithTimeout(ctx, q.Timeout.Duration)
	defer cancel()
	v, segs, err := newVerdict(q, heldOut)
	if err != nil {
		return nil, err
	}
	ac, cc := newClient(g.http, active.Addr), newClient(g.http, candidate.Addr)
	if v.Active, err = side(ctx, ac, active); err != nil {
		return nil, fmt.Errorf("quality: active: %w", err)
	}
	if v.Candidate, err = side(ctx, cc, candidate); err != nil {
		return nil, fmt.Errorf("quality: candidate: %w", err)
	}
	ref, err := g.reference(ctx, ac, v, q, segs)
	if err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	cstart := time.Now()
	if err := candidateSide(ctx, cc, v, q, ref); err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	v.Candidate.Duration = time.Since(cstart)
	g.keepCandidate(v, q)
	v.judge()
	v.Duration = time.Since(start)
	g.log.Info("quality judged", "pass", v.Pass, "reason", v.Reason, "perplexity_ratio", v.PerplexityRatio,
		"mean_kl", v.MeanKL, "active_cached", v.ActiveCached, "seconds", v.Duration.Seconds())
	return v, nil
}

// newVerdict is an empty verdict for q and the held-out text's segments
// (DefaultHeldOut when heldOut is "").
func newVerdict(q spec.Quality, heldOut string) (*Verdict, []string, error) {
	if heldOut == "" {
		heldOut = DefaultHeldOut
	}
	segs := segments(heldOut)
	if len(segs) == 0 {
		return nil, nil, errors.New("quality: the held-out text is empty")
	}
	digest := sha256.Sum256([]byte(heldOut))
	return &Verdict{MaxPerplexityRatio: q.MaxPerplexityRatio, MaxKL: q.MaxKL, KLTopK: KLTopK, HeldOutDigest: hex.EncodeToString(digest[:])}, segs, nil
}

func withDefaults(q spec.Quality) spec.Quality {
	d := spec.Document{Spec: spec.Spec{Quality: &q}}
	d.SetDefaults()
	return q
}

// side reads who a target serves.
func side(ctx context.Context, c *client, t Target) (Side, error) {
	id, err := c.identity(ctx)
	if err != nil {
		return Side{}, err
	}
	s := Side{Addr: t.Addr, Model: id.Model.Name, Version: id.Model.Version, SHA256: t.SHA256}
	if s.SHA256 == "" && len(id.Model.SHA256) == 64 { // not "" or "error: ..."
		s.SHA256 = id.Model.SHA256
	}
	return s, nil
}

// reference is the active's side, from the cache or asked one request at
// a time.
func (g *Gate) reference(ctx context.Context, ac *client, v *Verdict, q spec.Quality, segs []string) (*reference, error) {
	key := ""
	if v.Active.SHA256 != "" {
		key = cacheKey(v.Active.SHA256, v.HeldOutDigest, q.HeldOutTokens, q.MaxTokens, q.Prompts)
		if ref, ok := g.cache.get(key); ok {
			v.ActiveCached = true
			activeNumbers(v, ref)
			return ref, nil
		}
	}
	select {
	case g.active <- struct{}{}:
		defer func() { <-g.active }()
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if ref, ok := g.cache.get(key); ok && key != "" { // scored while this waited (Prefetch)
		v.ActiveCached = true
		activeNumbers(v, ref)
		return ref, nil
	}
	start := time.Now()
	ref := &reference{}
	for _, p := range q.Prompts {
		pstart := time.Now()
		r, err := ac.complete(ctx, p.Prompt, q.MaxTokens)
		if err == nil {
			err = pace(ctx, pstart)
		}
		if err != nil {
			return nil, fmt.Errorf("golden prompt on the active: %w", err)
		}
		ref.Replies = append(ref.Replies, r)
	}
	var err error
	if ref.Segments, err = scoreActive(ctx, ac, segs, q.HeldOutTokens); err != nil {
		return nil, err
	}
	v.Active.Duration = time.Since(start)
	activeNumbers(v, ref)
	if key != "" {
		if err := g.cache.put(key, ref); err != nil {
			g.log.Warn("quality cache not written; the active will be scored again", "err", err)
		}
	}
	return ref, nil
}

// keepCandidate caches the candidate's own side, scored with the rest of
// its side: when it becomes the active, the next deploy's gate asks it
// nothing (steady state: each version is scored once, while it is the
// standby and serves no user).
func (g *Gate) keepCandidate(v *Verdict, q spec.Quality) {
	if v.candidateRef == nil || v.Candidate.SHA256 == "" {
		return
	}
	key := cacheKey(v.Candidate.SHA256, v.HeldOutDigest, q.HeldOutTokens, q.MaxTokens, q.Prompts)
	if err := g.cache.put(key, v.candidateRef); err != nil {
		g.log.Warn("quality cache not written; the candidate will be scored again as the active", "err", err)
	}
}

func activeNumbers(v *Verdict, ref *reference) {
	var lps []float64
	for _, seg := range ref.Segments {
		lps = append(lps, seg.Logprobs...)
	}
	v.Active.Tokens, v.Active.MeanNLL = len(lps), meanNLL(lps)
	v.Active.Perplexity = finiteExp(v.Active.MeanNLL)
}

// candidateSide asks the candidate the golden prompts and scores the text
// the active scored, and fills in the comparison.
func candidateSide(ctx context.Context, cc *client, v *Verdict, q spec.Quality, ref *reference) error {
	var replies []reply
	for i, p := range q.Prompts {
		r, err := cc.complete(ctx, p.Prompt, q.MaxTokens)
		if err != nil {
			return fmt.Errorf("golden prompt on the candidate: %w", err)
		}
		replies = append(replies, r)
		res := PromptResult{Prompt: p.Prompt, Expect: p.Expect, Active: asReply(ref.Replies[i], p.Expect), Candidate: asReply(r, p.Expect)}
		res.Pass = res.Candidate.Meets
		v.Prompts = append(v.Prompts, res)
	}
	cs, err := scoreCandidate(ctx, cc, ref.Segments)
	if err != nil {
		return err
	}
	if cs.own != nil {
		v.candidateRef = &reference{Replies: replies, Segments: cs.own}
	}
	v.Candidate.Tokens, v.Candidate.MeanNLL = len(cs.logprobs), meanNLL(cs.logprobs)
	v.Candidate.Perplexity = finiteExp(v.Candidate.MeanNLL)
	v.PerplexityRatio = finiteExp(v.Candidate.MeanNLL - v.Active.MeanNLL)
	v.KLError = cs.mismatch
	if cs.mismatch == "" {
		v.MeanKL, v.KLPositions = mean(cs.kl), len(cs.kl)
	}
	return nil
}

func asReply(r reply, e spec.Expect) Reply {
	ok, why := meets(r.Text, e)
	return Reply{Text: r.Text, FinishReason: r.FinishReason, Tokens: r.Tokens, Meets: ok, Why: strings.TrimSpace(why)}
}

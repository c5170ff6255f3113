package quality

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
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
	// judged counts the judgements ended; Prefetch stops when one that
	// ran beside it ends.
	judged atomic.Int64
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
// scores heldOut on both (DefaultHeldOut when empty), a segment at a time,
// until the verdict is settled (see look) or q.HeldOutTokens are scored,
// and returns the verdict. An error means a server could not be asked
// (down, busy, a bad answer), not that the candidate failed: that is
// Verdict.Pass false. Zero fields of q take spec's defaults. The active is
// asked one request at a time, and only for what the cache lacks.
func (g *Gate) Judge(ctx context.Context, active, candidate Target, q spec.Quality, heldOut string) (*Verdict, error) {
	start := time.Now()
	defer g.judged.Add(1)
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
	as := g.activeSide(ac, v, q, segs)
	// The candidate answers the golden prompts while the active does (or
	// its replies come from the cache).
	theirs := make(chan goldenReplies, 1)
	go func() { theirs <- askGolden(ctx, cc, q) }()
	replies, err := as.replies(ctx)
	c := <-theirs
	if err == nil {
		err = c.err
	}
	if err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	own := comparePrompts(v, q, replies, c.replies)
	cstart, asked := time.Now(), as.took
	if err := g.compare(ctx, as, cc, v, own); err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	v.Candidate.Duration = c.took + time.Since(cstart) - (as.took - asked)
	v.Active.Duration, v.ActiveCached = as.took, as.cached
	g.keepCandidate(v, q, own)
	v.judge()
	v.Duration = time.Since(start)
	g.log.Info("quality judged", "pass", v.Pass, "reason", v.Reason, "perplexity_ratio", v.PerplexityRatio,
		"mean_kl", v.MeanKL, "tokens", v.Candidate.Tokens, "decided", v.Decided, "active_cached", v.ActiveCached,
		"seconds", v.Duration.Seconds())
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
	return &Verdict{MaxPerplexityRatio: q.MaxPerplexityRatio, MaxKL: q.MaxKL, KLTopK: KLTopK, HeldOutDigest: hex.EncodeToString(digest[:]),
		HeldOutTokens: q.HeldOutTokens, Confidence: Confidence, Decided: DecidedText}, segs, nil
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

// compare scores the held-out text on the candidate, segment by segment
// against the active's, and looks at the evidence after each segment,
// until it settles the verdict or the text (the budget) ends. own gets the
// candidate's own side of each segment.
func (g *Gate) compare(ctx context.Context, as *activeSide, cc *client, v *Verdict, own *reference) error {
	var e evidence
	var alp, clp []float64
	failed := slices.ContainsFunc(v.Prompts, func(p PromptResult) bool { return !p.Pass })
	for i := 0; ; i++ {
		seg, ok, err := as.segment(ctx, i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		cs, err := scoreCandidate(ctx, cc, i, seg, &e)
		if err != nil {
			return err
		}
		alp, clp = append(alp, seg.Logprobs...), append(clp, cs.logprobs...)
		if cs.own != nil && e.mismatch == "" {
			own.Segments = append(own.Segments, *cs.own)
		}
		if v.look(&e, failed) {
			v.Decided = DecidedEarly
			if !as.more(i + 1) {
				v.Decided = DecidedText // it was the last segment anyway
			}
			break
		}
	}
	v.Active.Tokens, v.Active.MeanNLL = len(alp), meanNLL(alp)
	v.Active.Perplexity = finiteExp(v.Active.MeanNLL)
	v.Candidate.Tokens, v.Candidate.MeanNLL = len(clp), meanNLL(clp)
	v.Candidate.Perplexity = finiteExp(v.Candidate.MeanNLL)
	v.PerplexityRatio = finiteExp(v.Candidate.MeanNLL - v.Active.MeanNLL)
	v.KLError = e.mismatch
	if e.mismatch == "" {
		v.MeanKL, v.KLPositions = mean(e.kl), len(e.kl)
	}
	v.LogRatioSD = stdDev(e.diff)
	return nil
}

// keepCandidate caches the candidate's own side, scored with the rest of
// its side: when it becomes the active, the next deploy's gate asks it
// only for segments this judgement did not reach (steady state: each
// version is scored as far as a judgement needs, while it is the standby
// and serves no user). A longer side already cached is kept.
func (g *Gate) keepCandidate(v *Verdict, q spec.Quality, own *reference) {
	if v.Candidate.SHA256 == "" || v.KLError != "" {
		return
	}
	key := refKey(v.Candidate.SHA256, v.HeldOutDigest, q)
	if old, ok := g.cache.get(key); ok && len(old.Segments) >= len(own.Segments) {
		return
	}
	if err := g.cache.put(key, own); err != nil {
		g.log.Warn("quality cache not written; the candidate will be scored again as the active", "err", err)
	}
}

// goldenReplies are the candidate's greedy replies to the golden prompts.
type goldenReplies struct {
	replies []reply
	took    time.Duration
	err     error
}

func askGolden(ctx context.Context, cc *client, q spec.Quality) goldenReplies {
	start := time.Now()
	var out goldenReplies
	for _, p := range q.Prompts {
		r, err := cc.complete(ctx, p.Prompt, q.MaxTokens)
		if err != nil {
			out.err = fmt.Errorf("golden prompt on the candidate: %w", err)
			break
		}
		out.replies = append(out.replies, r)
	}
	out.took = time.Since(start)
	return out
}

// comparePrompts fills in the golden prompts' results, the active's reply
// beside the candidate's, and returns the candidate's own side so far (its
// replies).
func comparePrompts(v *Verdict, q spec.Quality, active, candidate []reply) *reference {
	for i, p := range q.Prompts {
		res := PromptResult{Prompt: p.Prompt, Expect: p.Expect, Active: asReply(active[i], p.Expect), Candidate: asReply(candidate[i], p.Expect)}
		res.Pass = res.Candidate.Meets
		v.Prompts = append(v.Prompts, res)
	}
	return &reference{Replies: candidate}
}

func asReply(r reply, e spec.Expect) Reply {
	ok, why := meets(r.Text, e)
	return Reply{Text: r.Text, FinishReason: r.FinishReason, Tokens: r.Tokens, Meets: ok, Why: strings.TrimSpace(why)}
}

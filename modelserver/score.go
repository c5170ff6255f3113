package modelserver

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"
	"unicode/utf8"
)

// maxTokenIDs bounds the token ids a caller may name at one position.
const maxTokenIDs = 100

// scoreRequest is POST /v1/logprobs (docs/architecture.md has the contract).
type scoreRequest struct {
	Model       string  `json:"model"`
	Text        string  `json:"text"`
	TopLogprobs *int    `json:"top_logprobs"`
	TokenIDs    [][]int `json:"token_ids"`
	Truncate    *int    `json:"truncate"`
}

// scoreResponse is the scored text.
type scoreResponse struct {
	Object      string          `json:"object"`
	Model       string          `json:"model"`
	Content     []scoredToken   `json:"content"`
	LogprobSum  float64         `json:"logprob_sum"`
	MeanLogprob float64         `json:"mean_logprob"`
	Perplexity  float64         `json:"perplexity"`
	Usage       scoreUsage      `json:"usage"`
	Timings     scoreTimingsOut `json:"timings"`
}

type scoredToken struct {
	ID              int              `json:"id"`
	Token           string           `json:"token"`
	Bytes           []int            `json:"bytes"`
	Logprob         *float64         `json:"logprob"` // null for the first token
	TopLogprobs     []scoredTopToken `json:"top_logprobs"`
	TokenIDLogprobs []float64        `json:"token_id_logprobs"`
}

type scoredTopToken struct {
	ID      int     `json:"id"`
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type scoreUsage struct {
	PromptTokens    int `json:"prompt_tokens"`
	ScoredTokens    int `json:"scored_tokens"`
	TruncatedTokens int `json:"truncated_tokens"`
}

type scoreTimingsOut struct {
	QueueMS     float64 `json:"queue_ms"`
	InferenceMS float64 `json:"inference_ms"`
}

// handleLogprobs serves POST /v1/logprobs: the log-probability of every
// token of a text given the tokens before it, for perplexity and, with the
// top alternatives of one model and their ids named to another, KL
// divergence. It takes a slot and counts in flight like a generation.
func (s *Server) handleLogprobs(w http.ResponseWriter, r *http.Request) {
	g, err := s.startGeneration()
	defer g.done()
	var req scoreRequest
	if derr := decodeJSON(w, r, int64(s.cfg.MaxBody), &req); derr != nil {
		writeError(w, derr)
		return
	}
	if verr := validateScore(req); verr != nil {
		writeError(w, verr)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	tokens, err := g.engine.TokenizeText(req.Text)
	if err != nil {
		writeError(w, err)
		return
	}
	all := len(tokens)
	if tokens, err = s.scoredTokens(g.engine, tokens, req); err != nil {
		writeError(w, err)
		return
	}
	sreq := ScoreRequest{Tokens: tokens, TopLogprobs: deref(req.TopLogprobs, 0)}
	if len(req.TokenIDs) > 0 {
		sreq.Named = req.TokenIDs[1:]
	}
	res, err := g.score(r.Context(), sreq)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.scoreResponse(g, sreq, res, all-len(tokens)))
}

func validateScore(req scoreRequest) error {
	switch {
	case req.Text == "":
		return invalid("text", "text is empty")
	case len(req.Text) > maxMessageBytes:
		return invalid("text", "text is %d bytes; the limit is %d", len(req.Text), maxMessageBytes)
	case !utf8.ValidString(req.Text):
		return invalid("text", "text is not valid UTF-8")
	case req.TopLogprobs != nil && (*req.TopLogprobs < 0 || *req.TopLogprobs > MaxTopLogprobs):
		return invalid("top_logprobs", "top_logprobs %d: want 0 to %d", *req.TopLogprobs, MaxTopLogprobs)
	case req.Truncate != nil && *req.Truncate < 2:
		return invalid("truncate", "truncate %d: want at least 2 tokens", *req.Truncate)
	case len(req.TokenIDs) > 0 && len(req.TokenIDs[0]) > 0:
		return invalid("token_ids[0]", "the first token is not scored (nothing comes before it): leave token_ids[0] empty")
	}
	for i, ids := range req.TokenIDs {
		if len(ids) > maxTokenIDs {
			return invalid(fmt.Sprintf("token_ids[%d]", i), "%d token ids: at most %d per position", len(ids), maxTokenIDs)
		}
	}
	return nil
}

// scoredTokens applies truncate and checks the text against the limits
// and the named ids against the text and the vocabulary.
func (s *Server) scoredTokens(eng Engine, tokens []int, req scoreRequest) ([]int, error) {
	limit := min(s.cfg.MaxScoreTokens, eng.Info().SlotContext)
	if req.Truncate != nil {
		if *req.Truncate > limit {
			return nil, invalid("truncate", "truncate %d: above the limit of %d tokens (--max-score-tokens, --ctx)", *req.Truncate, limit)
		}
		tokens = tokens[:min(len(tokens), *req.Truncate)]
	}
	switch {
	case len(tokens) < 2:
		return nil, invalid("text", "text is %d token; scoring needs at least 2", len(tokens))
	case len(tokens) > limit:
		return nil, invalid("text", "text is %d tokens; the limit is %d (--max-score-tokens, --ctx): set truncate to score the first ones", len(tokens), limit)
	case len(req.TokenIDs) > len(tokens):
		return nil, invalid("token_ids", "token_ids has %d positions; the text has %d tokens", len(req.TokenIDs), len(tokens))
	}
	vocab := eng.Info().VocabSize
	for i, ids := range req.TokenIDs {
		for _, id := range ids {
			if id < 0 || id >= vocab {
				return nil, invalid(fmt.Sprintf("token_ids[%d]", i), "token id %d: the vocabulary has %d tokens", id, vocab)
			}
		}
	}
	return tokens, nil
}

// score waits for a slot and scores.
func (g *generation) score(ctx context.Context, req ScoreRequest) (ScoreResult, error) {
	release, err := g.admit(ctx)
	if err != nil {
		return ScoreResult{}, err
	}
	defer release()
	res, err := g.engine.Score(ctx, req)
	if err == nil {
		g.s.metrics.scoredTokens.Add(float64(len(res.Positions)))
		g.s.metrics.scoreSeconds.Observe(res.Finished.Sub(res.Started).Seconds())
	}
	return res, err
}

func (s *Server) scoreResponse(g *generation, req ScoreRequest, res ScoreResult, truncated int) scoreResponse {
	out := scoreResponse{Object: "text.logprobs", Model: s.model.Name, Content: make([]scoredToken, len(req.Tokens)),
		Usage: scoreUsage{PromptTokens: len(req.Tokens), ScoredTokens: len(res.Positions), TruncatedTokens: truncated}}
	for i, id := range req.Tokens {
		text := g.engine.TokenPiece(id)
		out.Content[i] = scoredToken{ID: id, Token: text, Bytes: byteList(text), TopLogprobs: []scoredTopToken{}, TokenIDLogprobs: []float64{}}
	}
	for i, p := range res.Positions {
		c := &out.Content[i+1]
		c.Logprob = &p.Logprob
		out.LogprobSum += p.Logprob
		for _, alt := range p.Top {
			t := g.engine.TokenPiece(alt.ID)
			c.TopLogprobs = append(c.TopLogprobs, scoredTopToken{ID: alt.ID, Token: t, Logprob: alt.Logprob, Bytes: byteList(t)})
		}
		if p.Named != nil {
			c.TokenIDLogprobs = p.Named
		}
	}
	out.MeanLogprob = out.LogprobSum / float64(len(res.Positions))
	// A model that puts ~0 on the text overflows exp: report the largest
	// float rather than fail to encode +Inf.
	out.Perplexity = min(math.Exp(-out.MeanLogprob), math.MaxFloat64)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	out.Timings = scoreTimingsOut{QueueMS: ms(res.Started.Sub(g.arrived)), InferenceMS: ms(res.Finished.Sub(res.Started))}
	return out
}

package modelserver

import (
	"math"
)

// MaxTopLogprobs bounds how many alternatives a position reports, as
// OpenAI's top_logprobs does (0-20).
const MaxTopLogprobs = 20

// TokenLogprob is a token and its log-probability (natural log) at one
// position.
type TokenLogprob struct {
	ID      int
	Logprob float64
}

// TokenLogprobs are the log-probabilities at one position of a reply or a
// scored text: the token that is there, the most likely tokens, and the
// tokens a caller named.
type TokenLogprobs struct {
	TokenLogprob                // the token at this position, sampled or scored
	Top          []TokenLogprob // the most likely tokens, most likely first
	Named        []float64      // the named tokens' log-probabilities, in the order named
}

// PositionLogprobs turns one position's logits into log-probabilities
// (a log-softmax over the whole vocabulary): token's, the top most likely
// tokens' and named's. It reports false when a logit is not finite (the
// readiness probe's degenerate weights) or an id is outside the vocabulary.
func PositionLogprobs(logits []float32, token, top int, named []int) (TokenLogprobs, bool) {
	lse, ok := logSumExp(logits)
	if !ok || token < 0 || token >= len(logits) {
		return TokenLogprobs{}, false
	}
	lp := TokenLogprobs{TokenLogprob: TokenLogprob{ID: token, Logprob: float64(logits[token]) - lse}}
	if top > 0 {
		lp.Top = topLogprobs(logits, lse, top)
	}
	if len(named) > 0 {
		lp.Named = make([]float64, len(named))
		for i, id := range named {
			if id < 0 || id >= len(logits) {
				return TokenLogprobs{}, false
			}
			lp.Named[i] = float64(logits[id]) - lse
		}
	}
	return lp, true
}

// logSumExp is log Σ exp(logit), computed around the largest logit so that
// nothing overflows.
func logSumExp(logits []float32) (float64, bool) {
	if len(logits) == 0 {
		return 0, false
	}
	hi := math.Inf(-1)
	for _, v := range logits {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		hi = max(hi, f)
	}
	sum := 0.0
	for _, v := range logits {
		sum += math.Exp(float64(v) - hi)
	}
	return hi + math.Log(sum), true
}

// topLogprobs returns the k most likely tokens, most likely first (the
// lower id first among equals), in one pass over the vocabulary keeping a
// sorted list of k: the vocabulary is ~50,000 and k at most 20.
func topLogprobs(logits []float32, lse float64, k int) []TokenLogprob {
	k = min(k, len(logits))
	top := make([]TokenLogprob, 0, k)
	for id, v := range logits {
		f := float64(v)
		if len(top) == k && f <= top[k-1].Logprob {
			continue
		}
		i := len(top)
		if i < k {
			top = append(top, TokenLogprob{})
		} else {
			i = k - 1
		}
		for i > 0 && top[i-1].Logprob < f {
			top[i] = top[i-1]
			i--
		}
		top[i] = TokenLogprob{ID: id, Logprob: f}
	}
	for i := range top {
		top[i].Logprob -= lse
	}
	return top
}

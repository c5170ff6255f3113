package quality

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// KLTopK is how many of the active's most likely tokens the KL divergence
// compares at each position; the rest of the mass is one tail bucket.
const KLTopK = 20

// maxSegmentTokens is the most one scoring request asks for: the model
// server's default --max-score-tokens.
const maxSegmentTokens = 1024

// reference is what the gate learns from the active color, cached by model
// and text: its golden replies and, per segment of the held-out text, the
// tokens, their log-probabilities and the top KLTopK alternatives.
type reference struct {
	Replies  []reply      `json:"replies"`
	Segments []refSegment `json:"segments"`
}

type refSegment struct {
	Text        string      `json:"text"`
	Tokens      []int       `json:"tokens"`
	Logprobs    []float64   `json:"logprobs"` // Logprobs[i] is Tokens[i+1]'s
	TopIDs      [][]int     `json:"top_ids"`
	TopLogprobs [][]float64 `json:"top_logprobs"`
}

// refSegmentOf keeps what a reference needs of a scoring with top_logprobs.
func refSegmentOf(text string, res scored) refSegment {
	seg := refSegment{Text: text}
	for i, tok := range res.Content {
		seg.Tokens = append(seg.Tokens, tok.ID)
		if i == 0 {
			continue
		}
		ids, lps := make([]int, len(tok.TopLogprobs)), make([]float64, len(tok.TopLogprobs))
		for j, alt := range tok.TopLogprobs {
			ids[j], lps[j] = alt.ID, alt.Logprob
		}
		seg.Logprobs = append(seg.Logprobs, *tok.Logprob)
		seg.TopIDs, seg.TopLogprobs = append(seg.TopIDs, ids), append(seg.TopLogprobs, lps)
	}
	return seg
}

// pace waits as long as the request begun at start took: between the
// gate's requests the active color serves its traffic alone at least half
// of the time, and requests queued behind the gate's slot catch up.
func pace(ctx context.Context, start time.Time) error {
	t := time.NewTimer(time.Since(start))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// candidateScore is the candidate's side of one held-out segment.
type candidateScore struct {
	logprobs []float64 // every scored position's
	// own is the candidate's side as a reference (its own top tokens at
	// each position), for when it is the active; nil when the two models
	// tokenize the segment differently.
	own *refSegment
}

// scoreCandidate scores segment i, as the active scored it, on the
// candidate, naming the active's top tokens at each position to get the
// candidate's log-probabilities of them, and its own top tokens too: when
// both models tokenize the text alike, that is the candidate's reference,
// as it would be scored were it the active (the same segment, the same
// truncation). It adds the positions' differences and KL divergences to e.
func scoreCandidate(ctx context.Context, c *client, i int, seg refSegment, e *evidence) (candidateScore, error) {
	var out candidateScore
	req := scoreRequest{Text: seg.Text, Truncate: len(seg.Tokens), TokenIDs: append([][]int{{}}, seg.TopIDs...), TopLogprobs: KLTopK}
	res, err := c.score(ctx, req)
	if err != nil && strings.Contains(err.Error(), "token id") {
		// The active's ids are outside the candidate's vocabulary.
		req.TokenIDs = nil
		res, err = c.score(ctx, req)
	}
	if err != nil {
		return out, fmt.Errorf("score the candidate: %w", err)
	}
	ids := make([]int, len(res.Content))
	for j, tok := range res.Content {
		ids[j] = tok.ID
		if j > 0 {
			out.logprobs = append(out.logprobs, *tok.Logprob)
		}
	}
	if !slices.Equal(ids, seg.Tokens) {
		e.mismatch = fmt.Sprintf("the models tokenize the held-out text differently (segment %d: %d tokens on the active, %d on the candidate)", i+1, len(seg.Tokens), len(ids))
		return out, nil
	}
	own := refSegmentOf(seg.Text, res)
	out.own = &own
	for j, tok := range res.Content[1:] {
		if len(tok.TokenIDLogprobs) != len(seg.TopLogprobs[j]) {
			e.mismatch = "the active's top tokens are outside the candidate's vocabulary"
			return out, nil
		}
		e.diff = append(e.diff, seg.Logprobs[j]-out.logprobs[j])
		e.kl = append(e.kl, klDivergence(seg.TopLogprobs[j], tok.TokenIDLogprobs))
	}
	return out, nil
}

// klDivergence is KL(P‖Q) at one position over the active's top tokens
// plus one tail bucket for the rest of each distribution: p are the
// active's log-probabilities of its top tokens, q the candidate's of the
// same tokens. Merging the tail into one bucket can only lower the true
// divergence, so this is a lower bound of it.
func klDivergence(p, q []float64) float64 {
	const tiny = 1e-30
	kl, pTop, qTop := 0.0, 0.0, 0.0
	for i := range p {
		pi := math.Exp(p[i])
		kl += pi * (p[i] - q[i])
		pTop += pi
		qTop += math.Exp(q[i])
	}
	if pTail := 1 - pTop; pTail > tiny {
		kl += pTail * (math.Log(pTail) - math.Log(max(1-qTop, tiny)))
	}
	return max(kl, 0)
}

// meanNLL is the mean negative log-probability of logprobs.
func meanNLL(logprobs []float64) float64 {
	if len(logprobs) == 0 {
		return 0
	}
	sum := 0.0
	for _, lp := range logprobs {
		sum -= lp
	}
	return sum / float64(len(logprobs))
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// finiteExp is exp(x), the largest float instead of +Inf, so that a
// verdict always encodes as JSON.
func finiteExp(x float64) float64 { return min(math.Exp(x), math.MaxFloat64) }

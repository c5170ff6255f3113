package quality

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Verdict is the gate's judgement with every number it rests on.
type Verdict struct {
	Pass bool `json:"pass"`
	// Reason names each failed check with its metric and bound, e.g.
	// "perplexity ratio 1.83 > maxPerplexityRatio 1.1"; "" when passed.
	Reason   string   `json:"reason,omitempty"`
	Failures []string `json:"failures,omitempty"`

	Active    Side           `json:"active"`
	Candidate Side           `json:"candidate"`
	Prompts   []PromptResult `json:"prompts"`

	PerplexityRatio    float64 `json:"perplexity_ratio"` // candidate ÷ active
	MaxPerplexityRatio float64 `json:"max_perplexity_ratio"`
	MeanKL             float64 `json:"mean_kl"` // candidate vs active, nats per token
	MaxKL              float64 `json:"max_kl"`
	// KLPositions is how many positions the KL divergence averages (all
	// scored ones, unless the models tokenize the text differently: then
	// none, and KLError says so).
	KLPositions int    `json:"kl_positions"`
	KLTopK      int    `json:"kl_top_k"`
	KLError     string `json:"kl_error,omitempty"`

	// HeldOutTokens is the budget of held-out tokens; Decided says whether
	// the verdict was settled early, before the budget was scored, by the
	// Confidence intervals of the metrics (set from the first look with
	// enough positions on).
	HeldOutTokens     int       `json:"held_out_tokens"`
	Decided           string    `json:"decided"`
	Confidence        float64   `json:"confidence"`
	PerplexityRatioCI *Interval `json:"perplexity_ratio_ci,omitempty"`
	MeanKLCI          *Interval `json:"mean_kl_ci,omitempty"`
	// LogRatioSD is the standard deviation, over the positions compared,
	// of the candidate's NLL minus the active's (nats): with it, the tokens
	// a verdict at a given margin needs are about (3.3 × sd ÷ margin)².
	LogRatioSD float64 `json:"log_ratio_sd"`

	HeldOutDigest string        `json:"held_out_digest"` // sha256 of the text, hex
	ActiveCached  bool          `json:"active_cached"`   // the active's side came from the cache
	Duration      time.Duration `json:"duration_ns"`
}

// How far the held-out text was scored.
const (
	DecidedEarly = "early" // settled by the intervals before the budget
	DecidedText  = "text"  // the whole text, or the budget, was scored
)

// Side is one model's numbers.
type Side struct {
	Addr    string `json:"addr"`
	Model   string `json:"model"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	// Tokens is how many held-out tokens were scored (positions after
	// each segment's first token).
	Tokens     int     `json:"tokens"`
	MeanNLL    float64 `json:"mean_nll"` // nats per token
	Perplexity float64 `json:"perplexity"`
	// Duration is the time spent on this side (0 for a cached active).
	Duration time.Duration `json:"duration_ns"`
}

// PromptResult is one golden prompt, answered by both.
type PromptResult struct {
	Prompt    string      `json:"prompt"`
	Expect    spec.Expect `json:"expect"`
	Active    Reply       `json:"active"`
	Candidate Reply       `json:"candidate"`
	Pass      bool        `json:"pass"` // the candidate's reply meets Expect
}

// Reply is one model's greedy answer and whether it meets the expectation.
type Reply struct {
	Text         string `json:"text"`
	FinishReason string `json:"finish_reason"`
	Tokens       int    `json:"tokens"`
	Meets        bool   `json:"meets"`
	Why          string `json:"why,omitempty"` // what it lacks
}

// meets checks a reply against an expectation.
func meets(text string, e spec.Expect) (bool, string) {
	var why []string
	if e.Contains != "" && !strings.Contains(text, e.Contains) {
		why = append(why, "does not contain "+strconv.Quote(e.Contains))
	}
	if e.Regex != "" {
		re, err := regexp.Compile(e.Regex)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("regex %q does not compile: %v", e.Regex, err))
		case !re.MatchString(text):
			why = append(why, "does not match "+strconv.Quote(e.Regex))
		}
	}
	return len(why) == 0, strings.Join(why, " and ")
}

// judge decides from the numbers.
func (v *Verdict) judge() {
	for i, p := range v.Prompts {
		if !p.Pass {
			also := "the active's does"
			if !p.Active.Meets {
				also = "neither does the active's"
			}
			v.Failures = append(v.Failures, fmt.Sprintf("prompt %d %s: the candidate's reply %s (%s)", i+1, short(p.Prompt), p.Candidate.Why, also))
		}
	}
	if v.PerplexityRatio > v.MaxPerplexityRatio {
		v.Failures = append(v.Failures, fmt.Sprintf("perplexity ratio %s > maxPerplexityRatio %s", num(v.PerplexityRatio), num(v.MaxPerplexityRatio)))
	}
	switch {
	case v.KLError != "":
		v.Failures = append(v.Failures, fmt.Sprintf("mean KL cannot be computed (%s); maxKL %s", v.KLError, num(v.MaxKL)))
	case v.MeanKL > v.MaxKL:
		v.Failures = append(v.Failures, fmt.Sprintf("mean KL %s > maxKL %s", num(v.MeanKL), num(v.MaxKL)))
	}
	v.Pass = len(v.Failures) == 0
	v.Reason = strings.Join(v.Failures, "; ")
}

// Summary is the verdict in one line, for an event or a log.
func (v *Verdict) Summary() string {
	outcome := "passed"
	if !v.Pass {
		outcome = "failed: " + v.Reason
	}
	ok := 0
	for _, p := range v.Prompts {
		if p.Pass {
			ok++
		}
	}
	return fmt.Sprintf("quality %s (perplexity %s -> %s, ratio %s%s %s %s; mean KL %s%s %s %s over %d tokens; %s; prompts %d/%d)",
		outcome, num(v.Active.Perplexity), num(v.Candidate.Perplexity), num(v.PerplexityRatio), v.PerplexityRatioCI.In(),
		cmp(v.PerplexityRatio, v.MaxPerplexityRatio), num(v.MaxPerplexityRatio),
		num(v.MeanKL), v.MeanKLCI.In(), cmp(v.MeanKL, v.MaxKL), num(v.MaxKL), v.KLPositions, v.DecidedHow(), ok, len(v.Prompts))
}

// DecidedHow says how much of the held-out text the verdict took, and the
// intervals when it was settled early.
func (v *Verdict) DecidedHow() string {
	switch {
	case v.HeldOutTokens == 0: // recorded before the gate looked early
		return fmt.Sprintf("the whole text (%d tokens)", v.Candidate.Tokens)
	case v.Decided != DecidedEarly || v.PerplexityRatioCI == nil || v.MeanKLCI == nil:
		return fmt.Sprintf("the whole text (%d of heldOutTokens %d)", v.Candidate.Tokens, v.HeldOutTokens)
	}
	return fmt.Sprintf("settled after %d of heldOutTokens %d by %s %% intervals",
		v.Candidate.Tokens, v.HeldOutTokens, strconv.FormatFloat(100*v.Confidence, 'f', -1, 64))
}

// In is " in [low, high]", or "" for no interval.
func (iv *Interval) In() string {
	if iv == nil {
		return ""
	}
	return " in " + iv.String()
}

// String is [low, high] with three significant digits.
func (iv Interval) String() string { return "[" + num(iv.Low) + ", " + num(iv.High) + "]" }

func cmp(x, bound float64) string {
	if x > bound {
		return ">"
	}
	return "<="
}

// num prints a metric with three significant digits.
func num(f float64) string { return strconv.FormatFloat(f, 'g', 3, 64) }

func short(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

package quality

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// The gate scores the held-out text a segment at a time and looks at the
// evidence after each: it stops as soon as a confidence interval of every
// metric lies on one side of its bound, and scores the whole text
// (heldOutTokens) only for a candidate near a bound. A clearly worse model
// fails, and a clearly equal one passes, after a few dozen tokens.
const (
	// Confidence is the two-sided level of the intervals an early
	// decision rests on.
	Confidence = 0.999
	// blockTokens is the batch-means block: consecutive positions are
	// correlated, so the spread is measured between block means.
	blockTokens = 6
	// minBlocks is the fewest blocks a look decides on.
	minBlocks = 4
)

// Interval is a metric's confidence interval.
type Interval struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// meanInterval is the Confidence interval of the mean of xs, from the
// means of its whole blocks of blockTokens (Student's t with one degree
// of freedom fewer than blocks), and false with fewer than minBlocks.
func meanInterval(xs []float64) (Interval, bool) {
	blocks := len(xs) / blockTokens
	if blocks < minBlocks {
		return Interval{}, false
	}
	means := make([]float64, blocks)
	for i := range means {
		means[i] = mean(xs[i*blockTokens : (i+1)*blockTokens])
	}
	m, se := mean(xs), stdDev(means)/math.Sqrt(float64(blocks))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(blocks - 1)}.Quantile(1 - (1-Confidence)/2)
	return Interval{Low: m - t*se, High: m + t*se}, true
}

// stdDev is the sample standard deviation of xs (0 for fewer than two).
func stdDev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m, ss := mean(xs), 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}

// evidence is what the candidate's scored segments have shown so far.
type evidence struct {
	diff []float64 // per position: the candidate's NLL minus the active's
	kl   []float64 // per position, when both tokenize alike
	// mismatch says why no KL can be computed.
	mismatch string
}

// look decides early, when it can: it sets v's intervals and reports
// whether they settle the verdict. Failed golden prompts settle it at the
// first look that has intervals for the evidence; a KL that cannot be
// computed settles it at once.
func (v *Verdict) look(e *evidence, promptsFailed bool) bool {
	if e.mismatch != "" {
		return true // the KL cannot be computed: the gate fails
	}
	ratio, ok := meanInterval(e.diff)
	kl, klOK := meanInterval(e.kl)
	if !ok || !klOK {
		return false
	}
	v.PerplexityRatioCI = &Interval{Low: finiteExp(ratio.Low), High: finiteExp(ratio.High)}
	v.MeanKLCI = &Interval{Low: max(kl.Low, 0), High: kl.High}
	fails := v.PerplexityRatioCI.Low > v.MaxPerplexityRatio || kl.Low > v.MaxKL
	passes := v.PerplexityRatioCI.High <= v.MaxPerplexityRatio && kl.High <= v.MaxKL
	return promptsFailed || fails || passes
}

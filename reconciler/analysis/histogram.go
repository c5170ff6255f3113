package analysis

import (
	"math"
	"slices"
)

// Histogram is a cumulative Prometheus histogram: Cumulative[i] counts the
// observations ≤ Bounds[i]; Count includes those above the last bound.
type Histogram struct {
	Bounds     []float64
	Cumulative []float64
	Count, Sum float64
}

// add merges two histograms with the same buckets (several routes); an
// empty one takes the other's buckets.
func (h Histogram) add(o Histogram) Histogram {
	if len(h.Bounds) == 0 {
		return Histogram{Bounds: slices.Clone(o.Bounds), Cumulative: slices.Clone(o.Cumulative), Count: o.Count, Sum: o.Sum}
	}
	if !slices.Equal(h.Bounds, o.Bounds) {
		return h // differently bucketed series cannot be merged; keep the first
	}
	out := Histogram{Bounds: h.Bounds, Cumulative: slices.Clone(h.Cumulative), Count: h.Count + o.Count, Sum: h.Sum + o.Sum}
	for i := range out.Cumulative {
		out.Cumulative[i] += o.Cumulative[i]
	}
	return out
}

// sub is h minus an earlier scrape of the same series; ok is false when a
// count went down (the process restarted) or the buckets changed.
func (h Histogram) sub(earlier Histogram) (Histogram, bool) {
	if len(earlier.Bounds) == 0 {
		return h, true
	}
	if !slices.Equal(h.Bounds, earlier.Bounds) || h.Count < earlier.Count {
		return Histogram{}, false
	}
	out := Histogram{Bounds: h.Bounds, Cumulative: slices.Clone(h.Cumulative), Count: h.Count - earlier.Count, Sum: h.Sum - earlier.Sum}
	for i := range out.Cumulative {
		out.Cumulative[i] -= earlier.Cumulative[i]
		if out.Cumulative[i] < 0 {
			return Histogram{}, false
		}
	}
	return out, true
}

// Quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear interpolation inside the bucket that holds the rank, the
// lower bound of the first bucket taken as 0. It is NaN for an empty
// histogram, and the highest finite bound when the rank falls above it.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 || len(h.Bounds) == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	rank := q * h.Count
	lower, below := 0.0, 0.0
	for i, upper := range h.Bounds {
		c := h.Cumulative[i]
		if c >= rank && c > below {
			if math.IsInf(upper, 1) {
				return lower
			}
			return lower + (upper-lower)*(rank-below)/(c-below)
		}
		lower, below = upper, c
	}
	return lower
}

// Mean is Sum/Count, NaN for an empty histogram.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	return h.Sum / h.Count
}

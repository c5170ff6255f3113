package analysis

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	h := Histogram{Bounds: []float64{1, 2, 4, inf}, Cumulative: []float64{10, 60, 90, 100}, Count: 100, Sum: 230}
	tests := []struct {
		name string
		q    float64
		want float64
	}{
		{"in the first bucket, from 0", 0.05, 0.5},
		{"at a bucket's top", 0.10, 1},
		{"interpolated in the second bucket", 0.35, 1.5},
		{"p95 in the third", 0.75, 3},
		{"above the last finite bound", 0.99, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
	if got := (Histogram{Bounds: h.Bounds, Cumulative: make([]float64, 4)}).Quantile(0.95); !math.IsNaN(got) {
		t.Errorf("empty histogram: %v, want NaN", got)
	}
	if got := h.Mean(); got != 2.3 {
		t.Errorf("Mean = %v, want 2.3", got)
	}
}

func TestHistogramDelta(t *testing.T) {
	b := []float64{1, 2, math.Inf(1)}
	early := Histogram{Bounds: b, Cumulative: []float64{1, 2, 3}, Count: 3, Sum: 4}
	late := Histogram{Bounds: b, Cumulative: []float64{5, 9, 10}, Count: 10, Sum: 15}
	d, ok := late.sub(early)
	if !ok || d.Count != 7 || d.Sum != 11 || d.Cumulative[0] != 4 || d.Cumulative[1] != 7 {
		t.Fatalf("late - early = %+v, %v", d, ok)
	}
	if _, ok := early.sub(late); ok {
		t.Error("a count that went down (a restart) gave a window")
	}
}

package modelserver

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// PositionLogprobs agrees with a plain softmax and a full sort.
func TestPositionLogprobsMatchesSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 5000)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 4)
	}
	logits[17] = 900 // large logits must not overflow
	logits[18] = 899
	sum := 0.0
	for _, v := range logits {
		sum += math.Exp(float64(v) - 900)
	}
	want := func(id int) float64 { return float64(logits[id]) - 900 - math.Log(sum) }
	ids := make([]int, len(logits))
	for i := range ids {
		ids[i] = i
	}
	slices.SortStableFunc(ids, func(a, b int) int { return -cmpFloat(logits[a], logits[b]) })

	got, ok := PositionLogprobs(logits, 42, 20, []int{18, 3})
	if !ok {
		t.Fatal("finite logits refused")
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if got.ID != 42 || !near(got.Logprob, want(42)) {
		t.Errorf("token: %+v, want logprob %v", got.TokenLogprob, want(42))
	}
	if len(got.Top) != 20 {
		t.Fatalf("top: %d entries, want 20", len(got.Top))
	}
	for i, tl := range got.Top {
		if tl.ID != ids[i] || !near(tl.Logprob, want(ids[i])) {
			t.Errorf("top[%d] = %+v, want id %d logprob %v", i, tl, ids[i], want(ids[i]))
		}
	}
	if len(got.Named) != 2 || !near(got.Named[0], want(18)) || !near(got.Named[1], want(3)) {
		t.Errorf("named: %v", got.Named)
	}
}

func TestPositionLogprobsRefuses(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		token  int
		named  []int
	}{
		{"NaN", []float32{0, float32(math.NaN())}, 0, nil},
		{"infinity", []float32{float32(math.Inf(1)), 0}, 0, nil},
		{"no logits", nil, 0, nil},
		{"token outside the vocabulary", []float32{0, 1}, 2, nil},
		{"named id outside the vocabulary", []float32{0, 1}, 1, []int{-1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := PositionLogprobs(tt.logits, tt.token, 2, tt.named); ok {
				t.Error("accepted")
			}
		})
	}
}

// Ties keep the lower id first; k above the vocabulary returns it all.
func TestTopLogprobsTies(t *testing.T) {
	got, _ := PositionLogprobs([]float32{1, 3, 3, 2}, 0, 10, nil)
	var ids []int
	for _, tl := range got.Top {
		ids = append(ids, tl.ID)
	}
	if !slices.Equal(ids, []int{1, 2, 3, 0}) {
		t.Errorf("order %v, want [1 2 3 0]", ids)
	}
}

func cmpFloat(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

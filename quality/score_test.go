package quality

import (
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestKLDivergence(t *testing.T) {
	ln := math.Log
	tests := []struct {
		name string
		p, q []float64
		want float64
	}{
		{"same distribution", []float64{ln(0.5), ln(0.3)}, []float64{ln(0.5), ln(0.3)}, 0},
		{"all mass in the top", []float64{ln(0.5), ln(0.5)}, []float64{ln(0.25), ln(0.25)},
			0.5*ln(2) + 0.5*ln(2)},
		{"tail bucket", []float64{ln(0.6)}, []float64{ln(0.2)}, 0.6*ln(3) + 0.4*ln(0.4/0.8)},
		{"candidate puts nothing on the top", []float64{ln(0.9)}, []float64{-80}, 0.9*(ln(0.9)+80) + 0.1*ln(0.1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := klDivergence(tt.p, tt.q); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSegments(t *testing.T) {
	long := strings.Repeat("The sea is deep. ", 200) // 3400 bytes
	got := segments("First paragraph\nstill first, long enough.\r\n\r\nSecond.\n\n\n\n" + long)
	// The short second paragraph is joined to the first.
	if len(got) < 1+3400/maxSegmentBytes || got[0] != "First paragraph\nstill first, long enough.\n\nSecond." {
		t.Fatalf("got %d segments: %q", len(got), got[:min(2, len(got))])
	}
	for _, s := range got[1:] {
		if len(s) > maxSegmentBytes+maxSegmentBytes/4 || !strings.HasSuffix(s, ".") {
			t.Errorf("segment of %d bytes ending %q", len(s), s[len(s)-5:])
		}
	}
	if strings.Join(got[1:], " ") != strings.TrimSpace(long) {
		t.Error("splitting lost text")
	}
	if got := segments(strings.Repeat("é", 1500)); len(got) < 3000/maxSegmentBytes || !validUTF8(got) || strings.Join(got, "") != strings.Repeat("é", 1500) {
		t.Errorf("no spaces: %d segments", len(got))
	}
	if n := len(segments(DefaultHeldOut)); n != 12 {
		t.Errorf("the default held-out text has %d segments, want 12 (three per paragraph)", n)
	}
	// A piece of a token or two is joined to its neighbour: it could not
	// be scored on its own.
	para := strings.Repeat("word ", 20) + "end."
	if got := segments("Hi.\n\n" + para + "\n\nOk."); len(got) != 1 || got[0] != "Hi.\n\n"+para+"\n\nOk." {
		t.Errorf("short paragraphs: %q", got)
	}
}

func validUTF8(ss []string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// The interval is the mean's, with the spread of whole blocks' means and
// Student's t for one degree of freedom fewer than blocks.
func TestMeanInterval(t *testing.T) {
	var xs []float64
	for b := 1; b <= 4; b++ {
		for range blockTokens {
			xs = append(xs, float64(b))
		}
	}
	if _, ok := meanInterval(xs[:len(xs)-1]); ok {
		t.Error("an interval from 3 whole blocks")
	}
	iv, ok := meanInterval(xs)
	// block means 1..4: sd 1.29099, se 0.645497; t(0.9995, 3) = 12.9240
	if half := 0.645497 * 12.9240; !ok || math.Abs(iv.Low-(2.5-half)) > 1e-3 || math.Abs(iv.High-(2.5+half)) > 1e-3 {
		t.Errorf("got %+v, want 2.5 ± %.4f", iv, half)
	}
	// A partial last block counts in the mean, not in the spread.
	iv, _ = meanInterval(append(slices.Clone(xs), 10))
	if m, want := (iv.Low+iv.High)/2, (10*blockTokens+10.0)/float64(4*blockTokens+1); math.Abs(m-want) > 1e-9 {
		t.Errorf("centre %v, want the mean of all %d, %v", m, 4*blockTokens+1, want)
	}
}

package reconciler

import (
	"testing"
	"time"
)

// TestRetryBackoff: 5 s after the first failed attempt, doubling, at most
// 5 min; the jitter stays within ±10 % and never passes the cap.
func TestRetryBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second}, {4, 40 * time.Second},
		{6, 160 * time.Second}, {7, RetryMax}, {40, RetryMax},
	}
	for _, tt := range tests {
		if got := retryBackoff(tt.attempt); got != tt.want {
			t.Errorf("retryBackoff(%d) = %s, want %s", tt.attempt, got, tt.want)
		}
		for range 200 {
			j := jitter(tt.want)
			lo := time.Duration(float64(tt.want) * (1 - RetryJitter))
			hi := min(time.Duration(float64(tt.want)*(1+RetryJitter)), RetryMax)
			if j < lo || j > hi {
				t.Fatalf("jitter(%s) = %s, want within [%s, %s]", tt.want, j, lo, hi)
			}
		}
	}
}

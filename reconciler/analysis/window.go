package analysis

import (
	"errors"
	"fmt"
	"time"
)

// ErrRestarted means a color's counters went down between two scrapes: it
// restarted, and the window says nothing about it.
var ErrRestarted = errors.New("the color restarted during the window")

// Window is what one color did between two scrapes.
type Window struct {
	From, To time.Time
	Requests float64
	Errors   float64
	Latency  Histogram
	TTFT     Histogram
	TPS      Histogram
}

// Delta is the window between an earlier and a later sample of one color.
func Delta(earlier, later Sample) (Window, error) {
	w := Window{From: earlier.At, To: later.At, Requests: later.Requests - earlier.Requests, Errors: later.Errors - earlier.Errors}
	if earlier.StartTime != later.StartTime || w.Requests < 0 || w.Errors < 0 {
		return Window{}, ErrRestarted
	}
	var ok [3]bool
	w.Latency, ok[0] = later.Latency.sub(earlier.Latency)
	w.TTFT, ok[1] = later.TTFT.sub(earlier.TTFT)
	w.TPS, ok[2] = later.TPS.sub(earlier.TPS)
	if !ok[0] || !ok[1] || !ok[2] {
		return Window{}, ErrRestarted
	}
	return w, nil
}

// Duration is the window's length.
func (w Window) Duration() time.Duration { return w.To.Sub(w.From) }

func (w Window) String() string {
	return fmt.Sprintf("%.0f requests, %.0f errors in %s", w.Requests, w.Errors, w.Duration().Round(time.Millisecond))
}

package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// drainCutMargin is how long before nginx would cut what its retired
// workers carry the drain gives up: a stream nginx cut ends its request on
// the old color, and must never be counted as drained.
const drainCutMargin = time.Second

// stepDrain waits until the old color has nothing in flight (its
// /health/deep in_flight is 0) and nothing can route to it any more: no
// retiring nginx worker remains, or, on runtime kubernetes, none of its
// pods is left in the stable Service's EndpointSlices (each pod's
// in_flight is read through the API server's pod proxy). It is bounded by
// spec.strategy.drainTimeout, and by the retired workers' own
// worker_shutdown_timeout counted from the swap (they run the config
// before it: a drainTimeout raised by this very deploy is not theirs), so
// it reports before nginx cuts a stream. A reading it cannot take (the old
// color does not answer, nginx's workers cannot be listed) is never
// "nothing left": it keeps polling and says why. A drain that ends with
// something left, or whose old color exits under its requests, leaves the
// deploy degraded (DrainTimedOut, OldColorExited), with the number of
// requests still in flight: the new version serves, and nothing is rolled
// back. It changes nothing.
func (r *Reconciler) stepDrain(ctx context.Context, d *deploy) error {
	if d.from == "" {
		d.note = "first deploy: nothing to drain"
		return nil
	}
	o := r.observe(ctx)
	if !o.running(d.from) {
		d.note = "old color already stopped"
		return nil
	}
	limit, bound := r.drainLimit(d)
	t0 := time.Now()
	last := drainReading{inFlight: -1}
	first := true
	err := poll(ctx, 25*time.Millisecond, limit, func(ctx context.Context) (bool, string, error) {
		rd, err := r.readDrain(ctx, d, last)
		if err != nil {
			return false, "", err
		}
		if ctx.Err() != nil {
			return false, "", nil // the deadline cut this reading short: keep the last whole one
		}
		last = rd
		if first && rd.inFlight >= 0 {
			d.drainInFlight, first = rd.inFlight, false
		}
		return rd.drained(), rd.String(), nil
	})
	d.drainTook = time.Since(t0)
	d.drainLeft = max(last.inFlight, 0)
	var exited oldColorExited
	switch {
	case err == nil:
		d.drainLeft = 0
		d.note = fmt.Sprintf("drained %d in-flight requests in %s", d.drainInFlight, d.drainTook.Round(time.Millisecond))
	case errors.As(err, &exited) && last.inFlight == 0:
		d.note = fmt.Sprintf("old color %s exited during the drain with nothing in flight (%s)", d.from, exited.why)
	case errors.As(err, &exited):
		d.note = fmt.Sprintf("old color %s exited during the drain with %s: those requests were cut (%s)", d.from, requests(last.inFlight), exited.why)
		r.degrade(d, StepDrain, DegradedOldColorExited, d.note)
	case errors.Is(err, errPollTimeout):
		d.note = fmt.Sprintf("drain timed out after %s with %s%s; after SIGTERM the old color finishes them for at most its shutdown timeout, then cuts them",
			d.drainTook.Round(time.Millisecond), last, bound)
		r.degrade(d, StepDrain, DegradedDrainTimedOut, d.note)
	default:
		return err
	}
	return nil
}

// drainLimit is how long the drain may wait: drainTimeout, or less when
// the workers the swap retired close their streams sooner (their config's
// worker_shutdown_timeout, from the swap, less drainCutMargin). bound
// explains a shorter limit.
func (r *Reconciler) drainLimit(d *deploy) (limit time.Duration, bound string) {
	limit = d.target.Spec.Strategy.DrainTimeout.Duration
	if d.retiredShutdown <= 0 || d.swappedAt.IsZero() {
		return limit, ""
	}
	left := time.Until(d.swappedAt.Add(d.retiredShutdown)) - drainCutMargin
	if left >= limit {
		return limit, ""
	}
	return max(left, 100*time.Millisecond), fmt.Sprintf(" (nginx's retired workers run the previous config, whose worker_shutdown_timeout %s cuts their streams %s after the swap; drainTimeout %s applies from the next deploy)",
		d.retiredShutdown, d.retiredShutdown, limit)
}

// drainReading is one look at what the old color still serves.
type drainReading struct {
	inFlight int64 // the old color's in_flight, -1 before the first reading
	// routing counts what can still send the old color a request:
	// nginx workers of an earlier config, or the old pods the stable
	// Service's EndpointSlices still list (routingWhat names them).
	routing     int
	routingWhat string
	unread      []string // what could not be read this time
	// silent: the old color itself did not answer (it may have exited).
	silent bool
}

func (rd drainReading) drained() bool {
	return len(rd.unread) == 0 && rd.inFlight == 0 && rd.routing == 0
}

func (rd drainReading) String() string {
	s := fmt.Sprintf("%s in flight and %d %s", requests(rd.inFlight), rd.routing, rd.routingWhat)
	if rd.inFlight < 0 {
		s = fmt.Sprintf("the old color's in-flight count never read and %d %s", rd.routing, rd.routingWhat)
	}
	if len(rd.unread) > 0 {
		s += " (" + strings.Join(rd.unread, "; ") + ")"
	}
	return s
}

// requests says "1 request" or "n requests".
func requests(n int64) string {
	if n == 1 {
		return "1 request"
	}
	return fmt.Sprintf("%d requests", max(n, 0))
}

// oldColorExited ends a drain whose old color is gone.
type oldColorExited struct{ why string }

func (e oldColorExited) Error() string { return "old color exited: " + e.why }

// readDrain reads the old color's drain through the router: its
// in-flight count, and what can still route to it. A number it cannot
// read keeps its last value and is named in unread, so the drain does not
// end on it; an old color that exited ends the drain with oldColorExited.
func (r *Reconciler) readDrain(ctx context.Context, d *deploy, last drainReading) (drainReading, error) {
	rd, err := r.router().drain(ctx, d.from, last)
	if err != nil || !rd.silent {
		return rd, err
	}
	if drv, derr := r.colorDriver(d.from); derr == nil {
		if st, ierr := drv.Inspect(ctx, d.from); ierr == nil && !st.Running {
			return rd, oldColorExited{why: st.ExitErr}
		}
	}
	return rd, nil
}

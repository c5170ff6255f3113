package loadgen

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// reportProgress prints one line every r.every until stop closes: elapsed
// time, requests, failures and the current deploy step. On a terminal the
// line is redrawn in place once a second instead.
func (r *Runner) reportProgress(a *attack, stop <-chan struct{}) {
	if r.progress == nil {
		return
	}
	tty := isTerminal(r.progress)
	every := r.every
	if tty {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			if tty {
				fmt.Fprintln(r.progress)
			}
			r.printProgress(a, false)
			return
		case <-tick.C:
			r.printProgress(a, tty)
		}
	}
}

func (r *Runner) printProgress(a *attack, redraw bool) {
	if a.tail != nil {
		_ = a.tail.Poll()
	}
	line := progressLine(r.sc.Name, time.Since(a.began), a)
	if redraw {
		fmt.Fprintf(r.progress, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(r.progress, line)
}

func progressLine(name string, elapsed time.Duration, a *attack) string {
	total, failed, lastErr := a.counts()
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %4ds  requests %d  failed %d", name, int(elapsed.Seconds()), total, failed)
	if lastErr != "" {
		fmt.Fprintf(&b, " (last: %s)", lastErr)
	}
	step := "no deploy yet"
	if a.tail != nil {
		if e, ok := a.tail.Last(); ok {
			step = e.String()
		}
	}
	if s := a.seriesProgress(); s != "" {
		fmt.Fprintf(&b, "  %s", s)
	}
	fmt.Fprintf(&b, "  step: %s", step)
	return b.String()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

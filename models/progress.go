package models

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// IsTerminal reports whether f is a character device, so that a progress
// bar may redraw itself in place.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress is an io.Writer that counts bytes and draws a progress bar: on a
// terminal one line redrawn at most 5 times a second, elsewhere (CI logs) a
// plain line every 10%.
type progress struct {
	w          io.Writer
	tty        bool
	start      int64 // bytes already present when this transfer began
	total      int64 // -1 if unknown
	done       int64
	began      time.Time
	lastDraw   time.Time
	lastTenths int64
	now        func() time.Time
}

func newProgress(w io.Writer, tty bool, start, total int64) *progress {
	p := &progress{w: w, tty: tty, start: start, total: total, done: start, now: time.Now}
	p.began = p.now()
	p.lastTenths = p.tenths()
	return p
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	now := p.now()
	switch {
	case p.tty && now.Sub(p.lastDraw) >= 200*time.Millisecond:
		p.lastDraw = now
		fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(now)) // ESC[K clears what a longer line left
	case !p.tty && p.tenths() > p.lastTenths:
		p.lastTenths = p.tenths()
		fmt.Fprintln(p.w, p.line(now))
	}
	return len(b), nil
}

// finish draws the final state and ends the line.
func (p *progress) finish(ok bool) {
	line := p.line(p.now())
	if !ok {
		line += "  interrupted"
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", line)
		return
	}
	if !ok || p.lastTenths < 10 {
		fmt.Fprintln(p.w, line)
	}
}

// tenths is the completed fraction in tenths (0..10), or 0 if unknown.
func (p *progress) tenths() int64 {
	if p.total <= 0 {
		return 0
	}
	return p.done * 10 / p.total
}

// line renders e.g. " 42.0% [########------------]  420.0/1000.0 MB  12.5 MB/s  ETA 46s".
func (p *progress) line(now time.Time) string {
	const mb = 1 << 20
	elapsed := now.Sub(p.began).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done-p.start) / elapsed
	}
	if p.total <= 0 {
		return fmt.Sprintf("%8.1f MB  %6.1f MB/s", float64(p.done)/mb, rate/mb)
	}
	frac := float64(p.done) / float64(p.total)
	bar := strings.Repeat("#", int(frac*24)) + strings.Repeat("-", 24-int(frac*24))
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%5.1f%% [%s] %7.1f/%.1f MB  %6.1f MB/s  ETA %s",
		100*frac, bar, float64(p.done)/mb, float64(p.total)/mb, rate/mb, eta)
}

// watchdog calls fire when no Write arrives for timeout; each Write
// re-arms it.
type watchdog struct {
	mu      sync.Mutex
	timer   *time.Timer
	timeout time.Duration
}

func newWatchdog(timeout time.Duration, fire func()) *watchdog {
	return &watchdog{timer: time.AfterFunc(timeout, fire), timeout: timeout}
}

func (w *watchdog) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.timer.Reset(w.timeout)
	w.mu.Unlock()
	return len(b), nil
}

func (w *watchdog) stop() { w.timer.Stop() }

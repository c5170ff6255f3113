package loadgen

import (
	"io"
	"strings"
	"sync"
)

// lockedWriter serialises writes from the progress goroutine and reads
// from the test.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

var _ io.Writer = (*lockedWriter)(nil)

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

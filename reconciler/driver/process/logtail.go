package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

var _ driver.LogTailer = (*Process)(nil)

// logTailBytes bounds how much of a log LogTail reads.
const logTailBytes = 256 << 10

// LogTail returns the last n lines of the color's modelserver.log written
// by its current (or last) run, from the offset its record keeps.
func (p *Process) LogTail(_ context.Context, c spec.Color, n int) ([]string, error) {
	rec, ok, err := p.readRecord(c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s has no instance record", c)
	}
	return tailLines(filepath.Join(p.dir(c), logFileName), rec.LogOffset, logTailBytes, n)
}

// tailLines returns the last n lines of path written after offset, reading
// at most limit bytes from its end.
func tailLines(path string, offset, limit int64, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() <= offset {
		return nil, nil
	}
	start := max(offset, fi.Size()-limit)
	b := make([]byte, fi.Size()-start)
	if _, err := f.ReadAt(b, start); err != nil {
		return nil, err
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return nil, nil
	}
	lines := strings.Split(text, "\n")
	if start > offset && len(lines) > 1 {
		lines = lines[1:] // the first may be cut short
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}

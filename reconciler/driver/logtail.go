package driver

import (
	"context"

	"github.com/zero-downtime-ml/zdml/spec"
)

// LogTailer is a Driver that can show what a color's model server wrote:
// the evidence of a failed deploy keeps the standby's last lines before it
// is stopped. Both runtimes implement it.
type LogTailer interface {
	// LogTail returns up to n of the last lines the color's current (or
	// last) run wrote, oldest first; none when it wrote nothing.
	LogTail(ctx context.Context, color spec.Color, n int) ([]string, error)
}

package reports

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
)

// Write writes the report's markdown (dir/<date>-<scenario>.md), its
// charts (dir/img/) and its record (dir/<date>-<scenario>.json, what
// latest.md is built from) and returns the markdown's path.
func (r *Report) Write(dir string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "img"), 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	lat, rps := r.ChartNames()
	charts := append([]chart{{name: lat, make: r.LatencyChart}, {name: rps, make: r.RateChart}}, r.resourceCharts()...)
	for _, c := range charts {
		png, err := c.make()
		if err != nil {
			return "", fmt.Errorf("report %s: chart %s: %w", r.Name(), c.name, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, filepath.FromSlash(c.name)), png, 0o644); err != nil {
			return "", fmt.Errorf("report: %w", err)
		}
	}
	var md bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.BaseName()+".md")
	if err := atomicfile.WriteFile(path, md.Bytes(), 0o644); err != nil {
		return "", err
	}
	_, err := r.Record().Write(dir)
	return path, err
}

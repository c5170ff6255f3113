package monitoring

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
)

// WriteMarkdown writes the report as a markdown section: the deploy, the
// metrics before and after it side by side, and what happened during it.
func (r *DeployReport) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "## Monitored deploy\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	if d := r.After.LastDeploy; d != nil {
		fmt.Fprintf(&b, "| deploy | `%s`: %s → %s, **%s**%s |\n", d.ID, orDash(d.FromVersion), orDash(d.ToVersion), d.Outcome, reason(d.Reason))
		if !d.StartedAt.IsZero() && !d.FinishedAt.IsZero() {
			fmt.Fprintf(&b, "| deploy duration | %s (reconciler) |\n", d.FinishedAt.Sub(d.StartedAt).Round(time.Millisecond))
		}
	}
	fmt.Fprintf(&b, "| active color | %s (%s) → %s (%s) |\n", orDash(r.Before.ActiveColor), orDash(r.Before.ActiveVersion),
		orDash(r.After.ActiveColor), orDash(r.After.ActiveVersion))
	fmt.Fprintf(&b, "| sync state | %s → %s |\n", orDash(r.Before.SyncState), orDash(r.After.SyncState))
	fmt.Fprintf(&b, "| snapshots | %s → %s (%s) |\n", r.Started.UTC().Format(time.RFC3339), r.Ended.UTC().Format(time.RFC3339),
		r.Ended.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(&b, "| prometheus | %s |\n\n", r.Prometheus)

	fmt.Fprintf(&b, "### Before and after\n\n| metric | series | before | after |\n|---|---|---|---|\n")
	for _, k := range mergedKeys(PointMetrics, r.Pre, r.Post) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", k.metric, orDash(k.series), text(r.Pre, k), text(r.Post, k))
	}
	fmt.Fprintf(&b, "\n### During the deploy (%s window)\n\n| metric | series | value |\n|---|---|---|\n",
		r.Ended.Sub(r.Started).Round(time.Second))
	for _, k := range mergedKeys(WindowMetrics, r.During) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", k.metric, orDash(k.series), text(r.During, k))
	}
	errs := append(append(append([]string{}, r.Pre.Errors...), r.Post.Errors...), r.During.Errors...)
	if len(errs) > 0 {
		fmt.Fprintf(&b, "\nQueries that failed:\n\n")
		for _, e := range errs {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteFile writes the markdown report to path atomically.
func (r *DeployReport) WriteFile(path string) error {
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return atomicfile.WriteFile(path, b.Bytes(), 0o644)
}

// ReportPath is reports/<date-time>-deploy-monitored.md under dir.
func ReportPath(dir string, at time.Time) string {
	return filepath.Join(dir, at.UTC().Format("2006-01-02-150405")+"-deploy-monitored.md")
}

type readingKey struct{ metric, series string }

// mergedKeys lists every (metric, series) seen in any snapshot, in the
// metrics' order and then by series, so a color that came up or went
// down shows a dash on one side.
func mergedKeys(metrics []Metric, snaps ...Snapshot) []readingKey {
	var out []readingKey
	for _, m := range metrics {
		seen := map[string]bool{}
		for _, s := range snaps {
			for _, rd := range s.Readings {
				if rd.Metric == m.Name {
					seen[rd.Series] = true
				}
			}
		}
		series := make([]string, 0, len(seen))
		for k := range seen {
			series = append(series, k)
		}
		sort.Strings(series)
		for _, k := range series {
			out = append(out, readingKey{m.Name, k})
		}
	}
	return out
}

func text(s Snapshot, k readingKey) string {
	if r, ok := s.Get(k.metric, k.series); ok {
		return strings.ReplaceAll(r.Text, "|", `\|`)
	}
	return "—"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func reason(s string) string {
	if s == "" {
		return ""
	}
	return " (" + strings.ReplaceAll(s, "|", `\|`) + ")"
}

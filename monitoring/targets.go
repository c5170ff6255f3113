package monitoring

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// Target is one scrape target as `make prom-targets` shows it.
type Target struct {
	Job, Color, Role, URL string
	Health                string        // up, down, unknown
	LastScrape            time.Time     // zero before the first scrape
	ScrapeDuration        time.Duration // of the last scrape
	LastError             string
	// Expected is set on a down model color that is not the active one:
	// the standby is stopped between deploys by design.
	Expected bool
}

// Targets lists the active scrape targets, sorted by job and color, and
// marks a down standby color as expected using the reconciler's
// zdml_reconciler_active_color (when it was scraped).
func (c *Client) Targets(ctx context.Context) ([]Target, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r, err := c.api.Targets(ctx)
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	active := c.activeColor(ctx)
	out := make([]Target, 0, len(r.Active))
	for _, a := range r.Active {
		t := Target{
			Job: string(a.Labels["job"]), Color: string(a.Labels["color"]), Role: string(a.Labels["role"]),
			URL: a.ScrapeURL, Health: string(a.Health), LastScrape: a.LastScrape,
			ScrapeDuration: time.Duration(a.LastScrapeDuration * float64(time.Second)), LastError: a.LastError,
		}
		t.Expected = t.Role == "model" && t.Health == "down" && active != "" && t.Color != active
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Job != out[j].Job {
			return out[i].Job < out[j].Job
		}
		return out[i].Color < out[j].Color
	})
	return out, nil
}

// activeColor is the color the reconciler routes to, or "" when unknown.
func (c *Client) activeColor(ctx context.Context) string {
	v, err := c.Query(ctx, `max by (color) (zdml_reconciler_active_color) == 1`, time.Now())
	if err != nil || len(v) != 1 {
		return ""
	}
	return string(v[0].Metric["color"])
}

// WriteTargets prints targets as an aligned table.
func WriteTargets(w io.Writer, targets []Target, now time.Time) error {
	if len(targets) == 0 {
		_, err := fmt.Fprintln(w, "no active targets yet: Prometheus lists them a moment after it starts")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tCOLOR\tROLE\tURL\tHEALTH\tLAST SCRAPE\tDURATION\tERROR")
	for _, t := range targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Job, dash(t.Color), dash(t.Role), t.URL,
			health(t), ago(t.LastScrape, now), t.ScrapeDuration.Round(10*time.Microsecond), dash(t.LastError))
	}
	return tw.Flush()
}

func health(t Target) string {
	if t.Expected {
		return "down (standby, expected)"
	}
	return t.Health
}

func ago(at, now time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return now.Sub(at).Round(100*time.Millisecond).String() + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

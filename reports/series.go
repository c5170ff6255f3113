package reports

import (
	"fmt"
	"image/color"
	"sort"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/loadgen"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// SeriesGoal is the bound on a deploy's cost to latency: p99 of
// the requests inside deploy windows at most 1.25× the baseline's.
const SeriesGoal = 1.25

// ClassLatency is one class of requests (or all of them, Class "all")
// inside the deploy windows against the baseline before the first deploy
// and against every request outside the windows.
type ClassLatency struct {
	Class                 string
	In, Before, Outside   loadgen.Stats
	MeanTokens            float64 // of the streams in windows that reported usage; 0 otherwise
	RatioBefore, RatioOut [3]float64
}

// SeriesLatency compares, per class of request, the latency inside the
// deploy windows with the baseline. Every number comes from the records.
func (r *Report) SeriesLatency() []ClassLatency {
	s := r.Analysis.Series
	if s == nil {
		return nil
	}
	recs := r.Data.Records
	classes := map[string]bool{}
	for _, rec := range recs {
		classes[rec.Class()] = true
	}
	names := []string{"all"}
	for _, c := range sortedKeys(classes) {
		names = append(names, c)
	}
	start, end := r.Analysis.Start, r.Analysis.End.Add(time.Nanosecond)
	var out []ClassLatency
	for _, c := range names {
		of := func(rec loadgen.Record) bool { return c == "all" || rec.Class() == c }
		cl := ClassLatency{Class: c,
			In:      loadgen.NewStatsWhere("deploy", recs, start, end, func(rec loadgen.Record) bool { return of(rec) && s.InWindow(rec.Start) }),
			Before:  loadgen.NewStatsWhere("before", recs, s.Before.From, s.Before.To, of),
			Outside: loadgen.NewStatsWhere("outside", recs, start, end, func(rec loadgen.Record) bool { return of(rec) && !s.InWindow(rec.Start) }),
		}
		cl.MeanTokens = meanTokens(recs, func(rec loadgen.Record) bool { return of(rec) && s.InWindow(rec.Start) })
		cl.RatioBefore = ratios(cl.In.Latency, cl.Before.Latency)
		cl.RatioOut = ratios(cl.In.Latency, cl.Outside.Latency)
		out = append(out, cl)
	}
	return out
}

func meanTokens(recs []loadgen.Record, keep func(loadgen.Record) bool) float64 {
	n, sum := 0, 0
	for _, r := range recs {
		if keep(r) && r.Tokens > 0 {
			n, sum = n+1, sum+r.Tokens
		}
	}
	if n == 0 {
		return 0
	}
	return float64(sum) / float64(n)
}

// ratios are p50, p95 and p99 of a over b (0 when either is empty).
func ratios(a, b loadgen.Quantiles) [3]float64 {
	if a.N == 0 || b.N == 0 {
		return [3]float64{}
	}
	r := func(x, y time.Duration) float64 {
		if y <= 0 {
			return 0
		}
		return float64(x) / float64(y)
	}
	return [3]float64{r(a.P50, b.P50), r(a.P95, b.P95), r(a.P99, b.P99)}
}

// seriesSection shows a series of deploys: the latency inside their
// windows against the baseline, and each deploy.
func (r *Report) seriesSection(b *strings.Builder) {
	s := r.Analysis.Series
	if s == nil {
		return
	}
	a := r.Analysis
	b.WriteString("## Deploy windows against the baseline\n\n")
	fmt.Fprintf(b, "%d deploys (%d succeeded, %d rolled back, %d not as expected). Their windows, each from the deploy's first step to its last, "+
		"add up to %s of the %s run; **%d requests started inside one**, %d of them failed. The baseline is the %d requests that started before the first deploy "+
		"(%s to %s); \"outside\" is every request that started outside the windows (%d).\n\n",
		len(s.Windows), s.Count(loadgen.ExpectSucceeded), s.Count(loadgen.ExpectRolledBack), s.Unexpected(), secs(s.WindowTime()),
		secs(a.End.Sub(a.Start)), s.In.Requests, s.In.Failed, s.Before.Requests, offset(a.Start, s.Before.From), offset(a.Start, s.Before.To), s.Outside.Requests)
	rows := r.SeriesLatency()
	if len(rows) > 0 && rows[0].In.Latency.N > 0 && rows[0].Before.Latency.N > 0 {
		got := rows[0].RatioBefore[2]
		verdict := "met"
		if got > SeriesGoal {
			verdict = "**not met**"
		}
		fmt.Fprintf(b, "Goal: p99 inside the windows at most %.2f× the baseline's. Measured: %s against %s, **×%.2f** (%s).\n\n",
			SeriesGoal, ms(rows[0].In.Latency.P99, 1), ms(rows[0].Before.Latency.P99, 1), got, verdict)
	}
	b.WriteString("| requests | in windows: n, failed, p50 / p95 / p99 | baseline: n, p50 / p95 / p99 | ratio to baseline p50 / p95 / p99 | outside windows: n, p99 | p99 ratio to outside |\n|---|---|---|---|---|---|\n")
	for _, c := range rows {
		name := c.Class
		if c.MeanTokens > 0 && c.Class != "all" {
			name += fmt.Sprintf(" (%.0f tokens on average)", c.MeanTokens)
		}
		fmt.Fprintf(b, "| %s | %d, %d, %s | %d, %s | %s | %d, %s | %s |\n", name,
			c.In.Requests, c.In.Failed, triple(c.In.Latency), c.Before.Requests, triple(c.Before.Latency),
			ratioTriple(c.RatioBefore), c.Outside.Requests, ms(c.Outside.Latency.P99, c.Outside.Latency.N), ratio(c.RatioOut[2]))
	}
	b.WriteString("\nA class is the request kind and its max_tokens (`completions_stream/512` is a 512-token SSE stream). " +
		"A stream counts as failed when it ends before `data: [DONE]`, carries an error event, or finishes short of its tokens.\n\n")
	r.deploysTable(b)
}

func (r *Report) deploysTable(b *strings.Builder) {
	s, start := r.Analysis.Series, r.Analysis.Start
	b.WriteString("### Deploys\n\n| # | commit | version | expected | outcome | window | took | requests in window | failed | p99 | drain |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, w := range s.Windows {
		di := r.Data.Info.Deploys[i]
		fmt.Fprintf(b, "| %d | `%s` | %s → %s | %s | %s | %s – %s | %s | %d | %d | %s | %s |\n", i+1, shortCommit(di.Commit),
			di.FromVersion, di.ToVersion, s.Expect[i], w.Outcome, offset(start, w.Start), offset(start, w.End), secs(w.Duration()),
			w.Stats.Requests, w.Stats.Failed, ms(w.Stats.Latency.P99, w.Stats.Latency.N), oneLine(drainNote(w.Events)))
	}
	b.WriteString("\n")
}

// drainNote is what the drain step said, or why the deploy rolled back.
func drainNote(evs []loadgen.Event) string {
	for _, e := range evs {
		if e.Step == loadgen.StepDrain && e.Phase != loadgen.PhaseStart {
			return e.Message
		}
	}
	for _, e := range evs {
		if e.Phase == loadgen.PhaseFail {
			return e.Step + " failed: " + e.Message
		}
	}
	return ""
}

func triple(q loadgen.Quantiles) string {
	if q.N == 0 {
		return "–"
	}
	return ms(q.P50, q.N) + " / " + ms(q.P95, q.N) + " / " + ms(q.P99, q.N)
}

func ratioTriple(r [3]float64) string {
	return ratio(r[0]) + " / " + ratio(r[1]) + " / " + ratio(r[2])
}

func ratio(f float64) string {
	if f == 0 {
		return "–"
	}
	return fmt.Sprintf("×%.2f", f)
}

// shadeSeries shades each deploy window on a chart: grey for a deploy
// that succeeded, red for one that rolled back.
func (r *Report) shadeSeries(p *plot.Plot, top float64) error {
	s := r.Analysis.Series
	if s == nil {
		return nil
	}
	ws := append([]*loadgen.DeployWindow(nil), s.Windows...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].Start.Before(ws[j].Start) })
	for _, w := range ws {
		x0, x1 := w.Start.Sub(r.Analysis.Start).Seconds(), w.End.Sub(r.Analysis.Start).Seconds()
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: 0}, {X: x1, Y: 0}, {X: x1, Y: top}, {X: x0, Y: top}})
		if err != nil {
			return err
		}
		poly.Color = color.NRGBA{R: 0x60, G: 0x60, B: 0x60, A: 0x30}
		if w.Outcome == loadgen.ExpectRolledBack {
			poly.Color = color.NRGBA{R: 0xd6, G: 0x1f, B: 0x1f, A: 0x30}
		}
		poly.LineStyle.Width = 0
		p.Add(poly)
	}
	return nil
}

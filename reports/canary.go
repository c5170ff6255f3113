package reports

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Verdict colors of the analysis marks on the latency chart.
var verdictColor = map[string]color.Color{
	"pass":         color.RGBA{R: 0x1a, G: 0x9a, B: 0x3a, A: 0xff},
	"fail":         failColor,
	"inconclusive": color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff},
}

// canarySection shows a canary deploy: its weights over time and each
// analysis window, with the canary's share of requests as the clients saw
// it against the configured weight.
func (r *Report) canarySection(b *strings.Builder) {
	t := r.Analysis.Canary
	if t == nil {
		return
	}
	start := r.Analysis.Start
	b.WriteString("## Canary\n\n")
	var spans []string
	for _, s := range t.Spans {
		spans = append(spans, fmt.Sprintf("%d%% from %s to %s", s.Weight, offset(start, s.From), offset(start, s.To)))
	}
	fmt.Fprintf(b, "The canary (%s) had %s; its highest weight was %d%%.", t.Color, strings.Join(spans, ", "), t.MaxWeight)
	if !t.FirstFail.IsZero() && !t.WeightZero.IsZero() {
		exposed := t.FirstFail
		if len(t.Spans) > 0 {
			exposed = t.Spans[0].From
		}
		fmt.Fprintf(b, " The first failed window came %s after the canary got traffic", secs(t.FirstFail.Sub(exposed)))
		if t.Abort.After(t.FirstFail) {
			fmt.Fprintf(b, "; the analysis aborted on a later failed window (failureLimit), %s after the first", secs(t.Abort.Sub(t.FirstFail)))
		}
		fmt.Fprintf(b, "; the weight was 0 (every request on the stable color) %s after the abort decision, %s after the first failed window.",
			secs(t.WeightZero.Sub(t.Abort)), secs(t.WeightZero.Sub(t.FirstFail)))
	}
	b.WriteString("\n\n")
	r.canarySteps(b)
	if len(t.Windows) == 0 {
		b.WriteString("No analysis window was judged.\n\n")
		return
	}
	b.WriteString("Each analysis window: the configured weight, the share of requests the clients saw the canary answer in the same stretch, the share the reconciler counted at the servers, and the decision.\n\n")
	b.WriteString("| window | weight | canary share (clients) | canary share (servers) | verdict | reason |\n|---|---|---|---|---|---|\n")
	for _, w := range t.Windows {
		d := w.Decision
		server := "—"
		if d.Share != nil {
			server = fmt.Sprintf("%.1f%% of %.0f", 100**d.Share, d.CanaryRequests+d.StableRequests)
		}
		client := "—"
		if !math.IsNaN(w.ClientShare) {
			client = fmt.Sprintf("%.1f%% of %d", 100*w.ClientShare, w.ClientRequests)
		}
		fmt.Fprintf(b, "| %s … %s | %d%% | %s | %s | **%s** | %s |\n", offset(start, w.From), offset(start, w.To), d.Weight,
			client, server, d.Verdict, oneLine(d.Reason))
	}
	b.WriteString("\n")
}

// canarySteps counts, for each weight the canary held, the requests that
// started while it held it and how many of them failed (a cut stream
// included): a canary is zero-downtime only if every step is.
func (r *Report) canarySteps(b *strings.Builder) {
	t := r.Analysis.Canary
	if len(t.Spans) == 0 {
		return
	}
	start := r.Analysis.Start
	b.WriteString("| weight | from | to | requests started | failed |\n|---|---|---|---|---|\n")
	for _, s := range t.Spans {
		n, failed := 0, 0
		for _, rec := range r.Data.Records {
			if rec.Start.Before(s.From) || !rec.Start.Before(s.To) {
				continue
			}
			n++
			if rec.Failed() {
				failed++
			}
		}
		fmt.Fprintf(b, "| %d%% | %s | %s | %d | %d |\n", s.Weight, offset(start, s.From), offset(start, s.To), n, failed)
	}
	b.WriteString("\n")
}

// shadeCanary shades the latency chart by the canary's weight: the darker
// the band, the larger the canary's share of traffic.
func (r *Report) shadeCanary(p *plot.Plot, top float64) error {
	t := r.Analysis.Canary
	if t == nil {
		return nil
	}
	start := r.Analysis.Start
	base, _ := colorFor(t.Color).(color.RGBA)
	for _, s := range t.Spans {
		x0, x1 := s.From.Sub(start).Seconds(), s.To.Sub(start).Seconds()
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: 0}, {X: x1, Y: 0}, {X: x1, Y: top}, {X: x0, Y: top}})
		if err != nil {
			return err
		}
		a := uint8(12 + float64(s.Weight)*0.9) // 10 % faint, 100 % clearly tinted
		poly.Color = color.NRGBA{R: base.R, G: base.G, B: base.B, A: a}
		poly.LineStyle.Width = 0
		p.Add(poly)
	}
	return nil
}

// markDecisions puts each analysis decision on the chart's top edge.
func (r *Report) markDecisions(p *plot.Plot, y float64) error {
	t := r.Analysis.Canary
	if t == nil {
		return nil
	}
	by := map[string]plotter.XYs{}
	for _, w := range t.Windows {
		by[w.Decision.Verdict] = append(by[w.Decision.Verdict], plotter.XY{X: w.To.Sub(r.Analysis.Start).Seconds(), Y: y})
	}
	for _, v := range sortedKeys(by) {
		s, err := plotter.NewScatter(by[v])
		if err != nil {
			return err
		}
		c, ok := verdictColor[v]
		if !ok {
			c = stepColor
		}
		s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(4), Shape: draw.PyramidGlyph{}}
		p.Add(s)
		p.Legend.Add("analysis "+v, s)
	}
	return nil
}

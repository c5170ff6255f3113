package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"github.com/zero-downtime-ml/zdml/loadgen"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart size: wide enough to read a minute-long run second by second.
const (
	chartWidth  = 11 * vg.Inch
	chartHeight = 4.5 * vg.Inch
)

var (
	colorOf = map[string]color.Color{
		"blue":  color.RGBA{R: 0x1f, G: 0x5f, B: 0xd6, A: 0xff},
		"green": color.RGBA{R: 0x1a, G: 0x9a, B: 0x3a, A: 0xff},
		"":      color.RGBA{R: 0x80, G: 0x80, B: 0x80, A: 0xff},
	}
	failColor = color.RGBA{R: 0xd6, G: 0x1f, B: 0x1f, A: 0xff}
	stepColor = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
)

// LatencyChart is a PNG of every request's latency over time, a point per
// request coloured by the color that served it, failures as red crosses,
// with the deploy's steps as dashed vertical lines.
func (r *Report) LatencyChart() ([]byte, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: latency by serving color", r.Name())
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = "latency (s)"
	start := r.Analysis.Start
	byColor := map[string]plotter.XYs{}
	var failed plotter.XYs
	ymax := 0.0
	for _, rec := range r.Data.Records {
		pt := plotter.XY{X: rec.Start.Sub(start).Seconds(), Y: rec.Latency.Seconds()}
		ymax = math.Max(ymax, pt.Y)
		if rec.Failed() {
			failed = append(failed, pt)
			continue
		}
		byColor[rec.Color] = append(byColor[rec.Color], pt)
	}
	if err := r.shadeCanary(p, math.Max(ymax, 1)*1.45); err != nil {
		return nil, err
	}
	if err := r.shadeSeries(p, math.Max(ymax, 1)*1.05); err != nil {
		return nil, err
	}
	for _, c := range sortedKeys(byColor) {
		s, err := plotter.NewScatter(byColor[c])
		if err != nil {
			return nil, err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: colorFor(c), Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
		p.Add(s)
		p.Legend.Add(colorName(c), s)
	}
	if len(failed) > 0 {
		s, err := plotter.NewScatter(failed)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: failColor, Radius: vg.Points(3), Shape: draw.CrossGlyph{}}
		p.Add(s)
		p.Legend.Add("failed", s)
	}
	if err := r.markSteps(p, ymax); err != nil {
		return nil, err
	}
	if err := r.markDecisions(p, math.Max(ymax, 1)*1.4); err != nil {
		return nil, err
	}
	return render(p)
}

// RateChart is a PNG of requests per second by serving color and failed
// requests per second, one-second buckets by start time.
func (r *Report) RateChart() ([]byte, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: requests and errors per second", r.Name())
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = "requests/s"
	start := r.Analysis.Start
	n := int(math.Ceil(r.Analysis.End.Sub(start).Seconds())) + 1
	byColor := map[string][]float64{}
	fails := make([]float64, n)
	for _, rec := range r.Data.Records {
		i := min(max(0, int(rec.Start.Sub(start).Seconds())), n-1)
		if rec.Failed() {
			fails[i]++
			continue
		}
		if byColor[rec.Color] == nil {
			byColor[rec.Color] = make([]float64, n)
		}
		byColor[rec.Color][i]++
	}
	ymax := 1.0
	for _, c := range sortedKeys(byColor) {
		for _, v := range byColor[c] {
			ymax = math.Max(ymax, v)
		}
	}
	for _, v := range fails {
		ymax = math.Max(ymax, v)
	}
	if err := r.shadeSeries(p, ymax*1.05); err != nil {
		return nil, err
	}
	for _, c := range sortedKeys(byColor) {
		l, err := stepLine(byColor[c], colorFor(c), &ymax)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		p.Legend.Add(colorName(c)+" ok/s", l)
	}
	l, err := stepLine(fails, failColor, &ymax)
	if err != nil {
		return nil, err
	}
	p.Add(l)
	p.Legend.Add("failed/s", l)
	if err := r.markSteps(p, ymax); err != nil {
		return nil, err
	}
	return render(p)
}

func stepLine(counts []float64, c color.Color, ymax *float64) (*plotter.Line, error) {
	xys := make(plotter.XYs, 0, 2*len(counts))
	for i, v := range counts {
		xys = append(xys, plotter.XY{X: float64(i), Y: v}, plotter.XY{X: float64(i + 1), Y: v})
		*ymax = math.Max(*ymax, v)
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(1.5)}
	return l, nil
}

// markSteps draws each deploy step's start as a dashed line. Steps closer
// together than a label can show (a whole deploy often takes a second in a
// minute-long run) share one label, "preflight … record", so that labels
// never overprint; a group's labels are staggered in height.
func (r *Report) markSteps(p *plot.Plot, ymax float64) error {
	d := r.Analysis.Deploy
	if d == nil {
		return nil
	}
	if ymax <= 0 {
		ymax = 1
	}
	top := ymax * 1.45
	span := math.Max(r.Analysis.End.Sub(r.Analysis.Start).Seconds(), 1)
	var labels plotter.XYLabels
	var group []string
	groupX := 0.0
	flush := func() {
		if len(group) == 0 {
			return
		}
		name := group[0]
		if len(group) > 1 {
			name += " … " + group[len(group)-1]
		}
		y := top * (0.96 - 0.06*float64(len(labels.XYs)%4))
		labels.XYs = append(labels.XYs, plotter.XY{X: groupX, Y: y})
		labels.Labels = append(labels.Labels, name)
		group = nil
	}
	for _, e := range d.Events {
		if e.Phase == loadgen.PhaseEnd || e.Analysis != nil {
			continue // analysis windows have marks of their own (markDecisions)
		}
		x := e.Time.Sub(r.Analysis.Start).Seconds()
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: top}})
		if err != nil {
			return err
		}
		l.LineStyle = draw.LineStyle{Color: stepColor, Width: vg.Points(0.75), Dashes: []vg.Length{vg.Points(3), vg.Points(3)}}
		p.Add(l)
		name := e.Step
		if e.Phase != loadgen.PhaseStart {
			name += " " + e.Phase
		}
		if x-groupX > 0.08*span || len(group) == 0 {
			flush()
			groupX = x
		}
		group = append(group, name)
	}
	flush()
	if len(labels.XYs) == 0 {
		return nil
	}
	lb, err := plotter.NewLabels(labels)
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Color = stepColor
		lb.TextStyle[i].Font.Size = vg.Points(8)
	}
	lb.Offset = vg.Point{X: vg.Points(2)}
	p.Add(lb)
	p.Y.Max = math.Max(p.Y.Max, top)
	return nil
}

func colorFor(c string) color.Color {
	if v, ok := colorOf[c]; ok {
		return v
	}
	return colorOf[""]
}

func render(p *plot.Plot) ([]byte, error) {
	p.Legend.Top = true
	p.Legend.Left = true
	p.Title.Padding = vg.Points(6)
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	wt, err := p.WriterTo(chartWidth, chartHeight, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

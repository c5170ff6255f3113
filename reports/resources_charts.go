package reports

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"time"

	"github.com/zero-downtime-ml/zdml/loadgen"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// chart is one chart file of a report.
type chart struct {
	name, caption string
	make          func() ([]byte, error)
}

// series of a resource chart: one line per reading, broken where the
// reading is missing (a color that does not run).
type series struct {
	label string
	color color.Color
	dash  bool
	value func(loadgen.Sample) (float64, bool)
}

var (
	nginxColor      = color.RGBA{R: 0x8e, G: 0x44, B: 0xad, A: 0xff}
	reconcilerColor = color.RGBA{R: 0xd3, G: 0x7a, B: 0x00, A: 0xff}
)

// resourceCharts are a sampled run's charts: memory, open files and
// goroutines, process counts, and the state directory's disk use.
func (r *Report) resourceCharts() []chart {
	if len(r.Data.Samples) == 0 {
		return nil
	}
	name := func(s string) string { return filepath.ToSlash(filepath.Join("img", r.BaseName()+"-"+s+".png")) }
	subjects := []struct {
		name string
		c    color.Color
	}{{loadgen.SubjectNginx, nginxColor}, {loadgen.SubjectReconciler, reconcilerColor},
		{loadgen.SubjectBlue, colorFor("blue")}, {loadgen.SubjectGreen, colorFor("green")}}
	var mem, files []series
	for _, s := range subjects {
		mem = append(mem, series{label: s.name, color: s.c, value: procValue(s.name, func(p loadgen.ProcSample) float64 { return float64(p.RSS) / (1 << 20) })})
		files = append(files, series{label: s.name + " open files", color: s.c, value: procValue(s.name, func(p loadgen.ProcSample) float64 { return float64(p.FDs) })})
	}
	files = append(files, series{label: "reconciler goroutines", color: reconcilerColor, dash: true, value: func(s loadgen.Sample) (float64, bool) {
		return float64(s.Goroutines), s.Goroutines >= 0
	}})
	procs := []series{
		{label: "nginx workers", color: nginxColor, value: func(s loadgen.Sample) (float64, bool) { return float64(s.NginxWorkers), true }},
		{label: "model-server processes", color: stepColor, value: func(s loadgen.Sample) (float64, bool) { return float64(s.ModelServers), true }},
	}
	disk := []series{{label: "state directory", color: stepColor, value: func(s loadgen.Sample) (float64, bool) {
		return float64(s.StateDirBytes()) / (1 << 20), true
	}}}
	return []chart{
		{name("memory"), "Resident memory (RSS, MiB) of nginx (master and workers), the reconciler and each color", r.resourceChart("resident memory", "MiB", mem)},
		{name("files"), "Open file descriptors of each process, and the reconciler's goroutines", r.resourceChart("open files and goroutines", "count", files)},
		{name("processes"), "nginx worker processes and model-server processes", r.resourceChart("processes", "count", procs)},
		{name("disk"), "Disk used by the state directory (MiB)", r.resourceChart("state directory disk use", "MiB", disk)},
	}
}

func procValue(subject string, f func(loadgen.ProcSample) float64) func(loadgen.Sample) (float64, bool) {
	return func(s loadgen.Sample) (float64, bool) {
		p, ok := s.Proc(subject)
		if !ok {
			return 0, false
		}
		return f(p), true
	}
}

// resourceChart draws each series over the run's time with the deploy
// windows of a series shaded.
func (r *Report) resourceChart(title, unit string, ss []series) func() ([]byte, error) {
	return func() ([]byte, error) {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s: %s", r.Name(), title)
		p.X.Label.Text = "seconds since start"
		p.Y.Label.Text = unit
		start := r.Analysis.Start
		ymax := 1.0
		for _, s := range ss {
			for _, smp := range r.Data.Samples {
				if v, ok := s.value(smp); ok {
					ymax = math.Max(ymax, v)
				}
			}
		}
		if err := r.shadeSeries(p, ymax*1.1); err != nil {
			return nil, err
		}
		for _, s := range ss {
			style := draw.LineStyle{Color: s.color, Width: vg.Points(1.5)}
			if s.dash {
				style.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			}
			legend := false
			for _, seg := range segments(r.Data.Samples, s.value, start) {
				l, err := plotter.NewLine(seg)
				if err != nil {
					return nil, err
				}
				l.LineStyle = style
				p.Add(l)
				if !legend {
					p.Legend.Add(s.label, l)
					legend = true
				}
			}
		}
		p.Y.Max = ymax * 1.4 // room for the legend above the lines
		return render(p)
	}
}

// segments are the stretches of consecutive samples that have a value,
// in seconds since start (a lone sample is drawn as a short flat line).
func segments(smp []loadgen.Sample, value func(loadgen.Sample) (float64, bool), start time.Time) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	flush := func() {
		if len(cur) == 1 {
			cur = append(cur, plotter.XY{X: cur[0].X + 0.5, Y: cur[0].Y})
		}
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur = nil
	}
	for _, s := range smp {
		v, ok := value(s)
		if !ok {
			flush()
			continue
		}
		cur = append(cur, plotter.XY{X: s.Time.Sub(start).Seconds(), Y: v})
	}
	flush()
	return out
}

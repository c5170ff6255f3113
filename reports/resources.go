package reports

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/zero-downtime-ml/zdml/loadgen"
)

// resourcesSection shows a sampled run's resources over time: each
// reading's trend (first third against last third, slope), whether it
// stays flat, and the charts.
func (r *Report) resourcesSection(b *strings.Builder) {
	smp, trends := r.Data.Samples, r.Analysis.Trends
	if len(smp) == 0 {
		return
	}
	every := "?"
	if st := r.Data.Info.Sampled; st != nil {
		every = st.Every
	}
	b.WriteString("## Resources over the run\n\n")
	fmt.Fprintf(b, "%d samples, one every %s, of the stack's processes through prometheus/procfs (`/proc`: resident memory, open file descriptors), "+
		"the reconciler's `/metrics` (`go_goroutines`), the processes counted in `/proc` (the nginx master's children; model servers of this stack's state directory, "+
		"whether a pid file names them or not) and the state directory's allocated blocks. A reading is **flat** when the median of its samples in the run's last third "+
		"is at most its median in the first third plus the tolerance; medians, so that the few samples of each deploy itself (a second color, an old nginx worker "+
		"finishing its requests) do not decide. nginx is its master and workers summed; pids counts the processes a reading came from "+
		"(a color is a new process at every deploy).\n\n", len(smp), every)
	b.WriteString("| reading | samples | pids | first third (median) | last third (median) | change | tolerance | slope per hour | min – max | verdict |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range trends {
		verdict := "flat"
		if t.Grows {
			verdict = "**grows**"
			if t.Name != loadgen.TrendDisk {
				verdict = "**grows: leak?**"
			}
		}
		fmt.Fprintf(b, "| %s | %d | %d | %s | %s | %s | %s | %s | %s – %s | %s |\n", t.Name, t.N, t.PIDs,
			unitValue(t.First, t.Unit), unitValue(t.Last, t.Unit), signed(t.Growth(), t.Unit), unitValue(t.Tolerance, t.Unit),
			signed(t.SlopePerHour, t.Unit), unitValue(t.Min, t.Unit), unitValue(t.Max, t.Unit), verdict)
	}
	b.WriteString("\n")
	if g := diskGrowth(smp); g != "" {
		fmt.Fprintf(b, "The state directory from the first sample to the last, by entry: %s.\n\n", g)
	}
	if errs := sampleErrors(smp); errs != "" {
		fmt.Fprintf(b, "Readings that failed: %s.\n\n", errs)
	}
	for _, c := range r.resourceCharts() {
		fmt.Fprintf(b, "%s:\n\n![%s](%s)\n\n", c.caption, c.caption, c.name)
	}
}

// unitValue writes a reading: bytes as MiB (KiB under one MiB), counts
// as numbers, one decimal; never "-0.0".
func unitValue(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	suffix := ""
	if unit == "bytes" {
		v, suffix = v/(1<<20), " MiB"
		if math.Abs(v) < 1 {
			v, suffix = v*1024, " KiB"
		}
	}
	if math.Abs(v) < 0.05 {
		v = 0
	}
	return fmt.Sprintf("%.1f%s", v, suffix)
}

func signed(v float64, unit string) string {
	s := unitValue(v, unit)
	if v >= 0 && s != "–" {
		s = "+" + s
	}
	return s
}

// diskGrowth lists the state directory's entries by how much they grew
// between the first and the last sample, largest first.
func diskGrowth(smp []loadgen.Sample) string {
	first, last := smp[0].StateDir, smp[len(smp)-1].StateDir
	names := map[string]bool{}
	for k := range first {
		names[k] = true
	}
	for k := range last {
		names[k] = true
	}
	type entry struct {
		name        string
		from, to, d int64
	}
	var es []entry
	for n := range names {
		es = append(es, entry{n, first[n], last[n], last[n] - first[n]})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].d > es[j].d || es[i].d == es[j].d && es[i].name < es[j].name })
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("`%s` %s → %s", e.name, size(e.from), size(e.to)))
	}
	return strings.Join(out, ", ")
}

// sampleErrors counts the failed readings by message.
func sampleErrors(smp []loadgen.Sample) string {
	counts := map[string]int{}
	for _, s := range smp {
		for _, e := range s.Errors {
			counts[firstLineOf(e, 100)]++
		}
	}
	var out []string
	for _, k := range sortedKeys(counts) {
		out = append(out, fmt.Sprintf("%s (%d samples)", k, counts[k]))
	}
	return strings.Join(out, "; ")
}

func firstLineOf(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

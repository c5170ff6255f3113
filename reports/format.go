package reports

import (
	"fmt"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/loadgen"
)

func (r *Report) environmentSection(b *strings.Builder) {
	if e := r.Data.Info.Env; e != nil {
		writeEnvironment(b, e, r.Data.Info.Runtime, true)
	}
}

// writeEnvironment writes the environment table; loadAvg includes the load
// average when the run began (a summary of several runs has one per run).
func writeEnvironment(b *strings.Builder, e *loadgen.Environment, runtime string, loadAvg bool) {
	b.WriteString("## Environment\n\n| | |\n|---|---|\n")
	machine := fmt.Sprintf("%s/%s, %d CPUs", e.OS, e.Arch, e.CPUs)
	if e.CPUModel != "" {
		machine += ", " + e.CPUModel
	}
	if e.MemoryBytes > 0 {
		machine += fmt.Sprintf(", %.1f GiB memory", float64(e.MemoryBytes)/(1<<30))
	}
	if e.Kernel != "" {
		machine += ", kernel " + e.Kernel
	}
	fmt.Fprintf(b, "| machine | %s |\n", machine)
	if loadAvg && e.LoadAvg != "" {
		fmt.Fprintf(b, "| load average when the run began (1, 5, 15 min) | %s |\n", e.LoadAvg)
	}
	vs := []string{"Go " + e.GoVersion}
	for _, v := range [][2]string{{"zdml", e.Zdml}, {"vegeta", e.Vegeta}, {"nginx", e.Nginx}} {
		if v[1] != "" {
			vs = append(vs, v[0]+" "+v[1])
		}
	}
	fmt.Fprintf(b, "| versions | %s |\n", strings.Join(vs, ", "))
	if runtime != "" {
		fmt.Fprintf(b, "| runtime | %s |\n", runtime)
	}
	for _, m := range e.Models {
		sum := m.SHA256
		if len(sum) > 16 {
			sum = sum[:16] + "…"
		}
		fmt.Fprintf(b, "| model | %s, %s, sha256 %s |\n", m.Name, size(m.Bytes), sum)
	}
	b.WriteString("\n")
}

func (r *Report) reproduceSection(b *strings.Builder) {
	b.WriteString("## Reproduce\n\n")
	if c := r.Data.Info.Command; c != "" {
		fmt.Fprintf(b, "```sh\n%s\n```\n\n", c)
	}
	fmt.Fprintf(b, "The raw results are vegeta's gob encoding (`vegeta report %s`, `vegeta plot %s`), saved under "+
		"`reports/runs/%s/` with the reconciler's step events (`%s`) and the run's metadata (`%s`); "+
		"`zdml report reports/runs/%s` regenerates this report from them alone.\n",
		loadgen.ResultsFile, loadgen.ResultsFile, r.BaseName(), loadgen.EventsFile, loadgen.RunFile, r.BaseName())
}

// secs writes a duration as seconds with one decimal: "12.3 s".
func secs(d time.Duration) string { return seconds(d.Seconds()) }

// offset writes t relative to start: "+12.3 s".
func offset(start, t time.Time) string { return fmt.Sprintf("+%.1f s", t.Sub(start).Seconds()) }

// ms writes a latency: "850 ms" or "1.25 s"; "–" for an empty sample.
func ms(d time.Duration, n int) string {
	switch {
	case n == 0:
		return "–"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", f*100) }

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// decimalSize writes a file size as Hugging Face lists model files:
// "1.02 GB", "117 MB".
func decimalSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.0f kB", float64(n)/1e3)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// oneLine keeps a message inside a table cell.
func oneLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	return strings.ReplaceAll(s, "|", "\\|")
}

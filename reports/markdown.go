package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/zero-downtime-ml/zdml/loadgen"
)

// Markdown writes the report. Chart links are relative to the reports
// directory, where the markdown file lives.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	r.header(&b)
	r.thresholdsSection(&b)
	r.phasesSection(&b)
	r.seriesSection(&b)
	r.resourcesSection(&b)
	r.canarySection(&b)
	r.qualitySection(&b)
	r.timelineSection(&b)
	r.chartsSection(&b)
	r.loadSection(&b)
	r.environmentSection(&b)
	r.reproduceSection(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) header(b *strings.Builder) {
	a, info := r.Analysis, r.Data.Info
	fmt.Fprintf(b, "# %s: %d failed of %d requests\n\n", r.Name(), a.All.Failed, a.All.Requests)
	if r.Scenario != nil && r.Scenario.Description != "" {
		fmt.Fprintf(b, "%s Measured on %s.\n\n", r.Scenario.Description, r.Date())
	}
	b.WriteString("| scenario | duration | requests | failed | outcome | thresholds |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| %s | %s | %d | %d (%s) | %s | %s |\n\n", r.Name(), r.durationCell(), a.All.Requests,
		a.All.Failed, pct(a.All.FailedRate()), r.Outcome(), r.thresholdsCell())
	if info.Error != "" {
		fmt.Fprintf(b, "**The run did not complete as planned:** %s\n\n", oneLine(info.Error))
	}
}

// durationCell is the run's length, and the deploy's when there is one.
func (r *Report) durationCell() string {
	s := secs(r.Analysis.End.Sub(r.Analysis.Start)) + " run"
	if d := r.Analysis.Deploy; d != nil && len(d.Events) > 0 {
		dd := DeployDuration(d) // a prewarm's says "... fast deploy" itself
		if !strings.HasSuffix(dd, " deploy") {
			dd += " deploy"
		}
		s += ", " + dd
	}
	if sr := r.Analysis.Series; sr != nil {
		s += fmt.Sprintf(", %d deploys, %s in their windows", len(sr.Windows), secs(sr.WindowTime()))
	}
	return s
}

func (r *Report) thresholdsCell() string {
	return r.thresholdCount().String()
}

func (r *Report) thresholdsSection(b *strings.Builder) {
	if len(r.Thresholds) == 0 {
		return
	}
	b.WriteString("## Thresholds\n\n| threshold | measured | bound | result |\n|---|---|---|---|\n")
	for _, t := range r.Thresholds {
		res := "pass"
		if !t.Pass {
			res = "**FAIL**"
		}
		got := t.Got
		if t.Note != "" {
			got = t.Note
		}
		fmt.Fprintf(b, "| `%s` | %s | %s %s | %s |\n", t.Text, got, t.Op, t.Bound, res)
	}
	b.WriteString("\n")
}

func (r *Report) phasesSection(b *strings.Builder) {
	a := r.Analysis
	colors := r.colors()
	b.WriteString("## Phases\n\n")
	b.WriteString("Phases are cut by the reconciler's step events; a request belongs to the phase it started in.")
	if a.Series != nil {
		b.WriteString(" In a series of deploys, `deploy` is every request that started inside a deploy's window, `between` those outside the windows from the first deploy's start to the last one's end, and `outside` every request outside the windows.")
	}
	b.WriteString("\n\n")
	b.WriteString("| phase | window | requests | failed | throughput | p50 | p95 | p99 | TTFT p50 | TTFT p99 |")
	for _, c := range colors {
		fmt.Fprintf(b, " %s |", colorName(c))
	}
	b.WriteString("\n|---|---|---|---|---|---|---|---|---|---|" + strings.Repeat("---|", len(colors)) + "\n")
	rows := append([]loadgen.Stats(nil), a.Phases...)
	if a.Deploy != nil && len(a.Deploy.Events) > 0 {
		rows = append(rows, a.Deploy.Stats)
	}
	if a.Series != nil {
		rows = append(rows, a.Series.In, a.Series.Outside)
	}
	rows = append(rows, a.All)
	for _, s := range rows {
		fmt.Fprintf(b, "| %s | %s – %s | %d | %d | %.2f/s | %s | %s | %s | %s | %s |", s.Name,
			offset(a.Start, s.From), offset(a.Start, minTime(s.To, a.End)), s.Requests, s.Failed, s.Throughput(),
			ms(s.Latency.P50, s.Latency.N), ms(s.Latency.P95, s.Latency.N), ms(s.Latency.P99, s.Latency.N),
			ms(s.TTFT.P50, s.TTFT.N), ms(s.TTFT.P99, s.TTFT.N))
		for _, c := range colors {
			fmt.Fprintf(b, " %d |", s.ByColor[c])
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	r.errorsTable(b, a.Phases)
}

func (r *Report) errorsTable(b *strings.Builder, phases []loadgen.Stats) {
	if r.Analysis.All.Failed == 0 {
		b.WriteString("No request failed.\n\n")
		return
	}
	b.WriteString("Failed requests by phase and error:\n\n| phase | error | count |\n|---|---|---|\n")
	for _, s := range phases {
		for _, k := range sortedKeys(s.Errors) {
			fmt.Fprintf(b, "| %s | %s | %d |\n", s.Name, k, s.Errors[k])
		}
	}
	b.WriteString("\n")
}

func (r *Report) timelineSection(b *strings.Builder) {
	d := r.Analysis.Deploy
	if d == nil {
		return
	}
	b.WriteString("## Deploy timeline\n\n")
	if di := r.Data.Info.Deploy; di != nil {
		fmt.Fprintf(b, "Commit `%s` set desired.yaml to %s %s (strategy %s) at %s; outcome **%s**",
			shortCommit(di.Commit), r.modelName(), di.ToVersion, di.Strategy, offset(r.Analysis.Start, di.CommittedAt), d.Outcome)
		if d.Reason != "" {
			fmt.Fprintf(b, " (%s)", oneLine(d.Reason))
		}
		b.WriteString(".\n\n")
	}
	if len(d.Events) == 0 {
		b.WriteString("The reconciler recorded no step events for this deploy.\n\n")
		return
	}
	b.WriteString("| time (UTC) | offset | step | phase | color | version | took | message |\n|---|---|---|---|---|---|---|---|\n")
	for _, e := range d.Events {
		took := ""
		if e.Duration > 0 {
			took = ms(e.Duration, 1)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", e.Time.UTC().Format("15:04:05.000"),
			offset(r.Analysis.Start, e.Time), e.Step, e.Phase, e.Color, e.Version, took, oneLine(e.Message))
	}
	b.WriteString("\n")
}

func (r *Report) chartsSection(b *strings.Builder) {
	lat, rps := r.ChartNames()
	b.WriteString("## Charts\n\n")
	marks := "with the deploy steps marked"
	if r.Analysis.Series != nil {
		marks = "with each deploy's window shaded (grey: succeeded, red: rolled back)"
	}
	fmt.Fprintf(b, "Latency of every request over time, coloured by the color that served it (failures in red), %s:\n\n![latency](%s)\n\n", marks, lat)
	fmt.Fprintf(b, "Requests per second by serving color, and failed requests per second:\n\n![requests and errors per second](%s)\n\n", rps)
}

func (r *Report) loadSection(b *strings.Builder) {
	sc := r.Scenario
	if sc == nil {
		return
	}
	l := sc.Load
	b.WriteString("## Load\n\n")
	if l.Concurrency > 0 {
		fmt.Fprintf(b, "- closed loop: %d concurrent clients", l.Concurrency)
	} else {
		fmt.Fprintf(b, "- open loop: %s (%.2f requests/s)", l.Rate, l.Rate.PerSecond())
	}
	fmt.Fprintf(b, " for %s, per-request timeout %s, max_tokens %d, %d user ids\n", l.Duration.Duration, l.Timeout.Duration, l.MaxTokens, l.Users)
	fmt.Fprintf(b, "- request mix: %s\n", mixText(l))
	if rs := sc.Stack.Resources; rs.Threads > 0 || rs.Parallel > 0 {
		fmt.Fprintf(b, "- each color: %s %s, %d thread(s), %d slot(s)\n", sc.Stack.Model.Name, sc.Stack.Model.Path, rs.Threads, rs.Parallel)
	}
	b.WriteString("- keep-alive HTTP clients (Go's default transport)")
	if all := r.Analysis.All; all.ReuseKnown > 0 {
		fmt.Fprintf(b, ": %d of %d requests went out on a reused connection", all.Reused, all.ReuseKnown)
	}
	b.WriteString("\n")
	b.WriteString("- a timeout, any status other than 2xx, or a stream that ends before `data: [DONE]`, carries an error event or finishes short of its tokens counts as failed\n")
	if d := sc.Deploy; d != nil {
		fmt.Fprintf(b, "- deploy: %s → %s (%s) committed at +%s, expected outcome %s, traffic continues %s after it ends\n",
			sc.Stack.Model.Version, d.Model.Version, d.Strategy, d.At.Duration, d.Expect, d.After.Duration)
	}
	if s := sc.Series; s != nil {
		b.WriteString("- " + seriesLine(sc) + "\n")
	}
	b.WriteString("\n")
}

func (r *Report) modelName() string {
	if r.Scenario != nil && r.Scenario.Deploy != nil {
		return r.Scenario.Deploy.Model.Name
	}
	return "model"
}

func (r *Report) colors() []string {
	set := map[string]bool{}
	for c := range r.Analysis.All.ByColor {
		set[c] = true
	}
	return sortedKeys(set)
}

func colorName(c string) string {
	if c == "" {
		return "no color"
	}
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		// "" (no color) last.
		if (out[i] == "") != (out[j] == "") {
			return out[j] == ""
		}
		return out[i] < out[j]
	})
	return out
}

// mixText is "chat ×3, completions_stream ×1 (512 tokens)".
func mixText(l loadgen.Load) string {
	var mix []string
	for _, m := range l.Mix {
		t := fmt.Sprintf("%s ×%d", m.Kind, m.Weight)
		if m.MaxTokens > 0 && m.MaxTokens != l.MaxTokens {
			t += fmt.Sprintf(" (%d tokens)", m.MaxTokens)
		}
		mix = append(mix, t)
	}
	return strings.Join(mix, ", ")
}

// seriesLine describes a scenario's series of deploys.
func seriesLine(sc *loadgen.Scenario) string {
	s := sc.Series
	var vs []string
	for _, m := range s.Models {
		vs = append(vs, m.Version+" ("+m.Path+")")
	}
	count := fmt.Sprintf("%d deploys", s.Count)
	if s.Count == 0 {
		count = "deploys"
	}
	when := "back to back (the next commit as soon as the last deploy ended"
	if s.Every.Duration > 0 {
		when = fmt.Sprintf("one every %s (commit to commit", s.Every.Duration)
	}
	if s.Gap.Duration > 0 {
		when += fmt.Sprintf(", at least %s after it", s.Gap.Duration)
	}
	line := fmt.Sprintf("series: %s (%s), %s), the first committed at +%s, alternating %s",
		count, s.Strategy, when, s.At.Duration, strings.Join(vs, " and "))
	if bd := s.Broken; bd != nil {
		line += fmt.Sprintf("; every %s deploy commits %s (%s), which must roll back", ordinal(bd.Every), bd.Model.Version, bd.Model.Path)
	}
	return line + fmt.Sprintf("; traffic continues %s after the last", s.After.Duration)
}

func ordinal(n int) string {
	switch {
	case n == 1:
		return ""
	case n%10 == 2 && n%100 != 12:
		return fmt.Sprintf("%dnd", n)
	case n%10 == 3 && n%100 != 13:
		return fmt.Sprintf("%drd", n)
	}
	return fmt.Sprintf("%dth", n)
}

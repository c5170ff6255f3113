package reports

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zero-downtime-ml/zdml/loadgen"
	"github.com/zero-downtime-ml/zdml/quality"
)

// qualitySection shows the output-quality gate of the deploy, from the
// event that carries its verdict: each golden prompt with both versions'
// replies and whether the new one meets its expectation, both versions'
// perplexity and the KL divergence against their bounds, and the verdict.
func (r *Report) qualitySection(b *strings.Builder) {
	ev := r.qualityEvent()
	if ev == nil {
		return
	}
	v := ev.Quality
	b.WriteString("## Quality gate\n\n")
	word := "**passed**"
	if !v.Pass {
		word = "**failed**: " + oneLine(v.Reason)
	}
	cached, activeTime := "", secs(v.Active.Duration)
	if v.ActiveCached {
		cached, activeTime = " (the active's side kept from an earlier judgement)", "cached"
		if ahead := r.aheadEvent(); ahead != nil {
			cached = fmt.Sprintf(" (the active's side scored in the background from the deploy's start, beside the standby's start and judgement: %s of requests)",
				secs(ahead.Duration))
			activeTime = secs(ahead.Duration) + ", in the background"
		}
	}
	fmt.Fprintf(b, "The gate judged %s against %s before it got any traffic, at %s, in %s%s: %s.\n\n",
		v.Candidate.Version, v.Active.Version, offset(r.Analysis.Start, ev.Time), secs(v.Duration), cached, word)
	b.WriteString("| metric | active " + v.Active.Version + " | new " + v.Candidate.Version + " | value | bound | result |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| perplexity on the held-out text | %s | %s | ratio %s%s | ≤ %s | %s |\n", g3(v.Active.Perplexity),
		g3(v.Candidate.Perplexity), g3(v.PerplexityRatio), v.PerplexityRatioCI.In(), g3(v.MaxPerplexityRatio), passFail(v.PerplexityRatio <= v.MaxPerplexityRatio))
	kl, ok := g3(v.MeanKL)+v.MeanKLCI.In(), v.KLError == "" && v.MeanKL <= v.MaxKL
	if v.KLError != "" {
		kl = "n/a: " + oneLine(v.KLError)
	}
	fmt.Fprintf(b, "| mean KL divergence (nats/token, top %d + tail) | – | – | %s | ≤ %s | %s |\n", v.KLTopK, kl, g3(v.MaxKL), passFail(ok))
	fmt.Fprintf(b, "| tokens scored | %d | %d | %s | | |\n", v.Active.Tokens, v.Candidate.Tokens, v.DecidedHow())
	fmt.Fprintf(b, "| time | %s | %s | | | |\n\n", activeTime, secs(v.Candidate.Duration))
	if len(v.Prompts) == 0 {
		return
	}
	b.WriteString("Golden prompts, answered greedily by both versions:\n\n| # | prompt | expect | active " + v.Active.Version +
		" | new " + v.Candidate.Version + " | result |\n|---|---|---|---|---|---|\n")
	for i, p := range v.Prompts {
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s |\n", i+1, quoted(p.Prompt), expectText(p), quoted(p.Active.Text),
			quoted(p.Candidate.Text), passFail(p.Pass))
	}
	b.WriteString("\n")
}

// qualityEvent is the deploy's event carrying the quality verdict, if any.
func (r *Report) qualityEvent() *loadgen.Event {
	d := r.Analysis.Deploy
	if d == nil {
		return nil
	}
	for i := len(d.Events) - 1; i >= 0; i-- {
		if e := d.Events[i]; e.Step == loadgen.StepQuality && e.Quality != nil {
			return &d.Events[i]
		}
	}
	return nil
}

// aheadEvent is the event saying the active's side was scored ahead of
// the quality step (Gate.Prefetch), if it was.
func (r *Report) aheadEvent() *loadgen.Event {
	d := r.Analysis.Deploy
	for i, e := range d.Events {
		if e.Step == loadgen.StepQuality && e.Phase == "info" && e.Quality == nil && e.Duration > 0 {
			return &d.Events[i]
		}
	}
	return nil
}

func expectText(p quality.PromptResult) string {
	var parts []string
	if p.Expect.Contains != "" {
		parts = append(parts, "contains "+quoted(p.Expect.Contains))
	}
	if p.Expect.Regex != "" {
		parts = append(parts, "regex `"+strings.ReplaceAll(p.Expect.Regex, "|", "\\|")+"`")
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "**FAIL**"
}

// quoted is a reply in a table cell: quoted, cut at 120 bytes.
func quoted(s string) string {
	if len(s) > 120 {
		n := 120
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return oneLine(strconv.Quote(s))
}

// g3 writes a metric with three significant digits.
func g3(f float64) string { return strconv.FormatFloat(f, 'g', 3, 64) }

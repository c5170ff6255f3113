package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/reconciler"
)

func init() {
	register("evidence", "what a failed deploy left to look at: reason, scores, prompts and replies, the standby's log [DEPLOY_ID] [--list] [--json]", runEvidence)
}

// runEvidence prints one evidence folder (the newest without an id), or
// the list of those kept.
func runEvidence(_ context.Context, _ *slog.Logger, args []string) error {
	var asJSON, list bool
	var lines int
	f, fs, err := parseFlags("evidence", "evidence [DEPLOY_ID] [--list] [--json] [-n 20] [flags]", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		fs.BoolVar(&list, "list", false, "list the evidence kept (the last 20 failed deploys)")
		fs.IntVar(&lines, "n", 20, "lines of the standby's log to print")
	})
	if err != nil {
		return err
	}
	id := fs.Arg(0)
	if fs.NArg() > 0 { // flags may follow the id too
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if list && id != "" {
		return fmt.Errorf("--list takes no deploy id (got %q)", id)
	}
	if lines < 0 {
		return fmt.Errorf("-n %d: want 0 or more", lines)
	}
	if list {
		all, err := reconciler.ListEvidence(f.stateDir)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(stdout, all)
		}
		printEvidenceList(stdout, f.stateDir, all)
		return nil
	}
	ev, err := reconciler.ReadEvidence(f.stateDir, id)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, ev)
	}
	printEvidence(stdout, ev, lines)
	return nil
}

func printEvidenceList(w io.Writer, stateDir string, all []reconciler.EvidenceIndex) {
	if len(all) == 0 {
		fmt.Fprintf(w, "no evidence kept in %s\n", filepath.Join(stateDir, reconciler.EvidenceDir))
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPLOY ID\tWHEN\tSTEP\tVERSIONS\tREASON")
	for _, e := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s -> %s\t%s\n", e.DeployID, e.At.Local().Format("2006-01-02 15:04:05"), e.Step,
			orNone(e.FromVersion), e.ToVersion, cut(e.Reason, 100))
	}
	tw.Flush()
}

func printEvidence(w io.Writer, ev *reconciler.Evidence, lines int) {
	x := ev.Index
	fmt.Fprintf(w, "evidence: %s\n", ev.Dir)
	fmt.Fprintf(w, "deploy:   %s (%s, %s) %s %s -> %s %s, commit %s\n", x.DeployID, x.Kind, orNone(x.Strategy),
		orNone(string(x.From)), orNone(x.FromVersion), x.To, x.ToVersion, orNone(short(x.Commit)))
	fmt.Fprintf(w, "failed:   %s at %s\n          %s\n", x.Step, x.At.Local().Format("2006-01-02 15:04:05"), x.Reason)
	fmt.Fprintf(w, "files:    %s\n", strings.Join(x.Files, ", "))
	for _, m := range x.Missing {
		fmt.Fprintf(w, "missing:  %s\n", m)
	}
	if v := ev.Verdict; v != nil {
		printVerdict(w, v)
	}
	if len(ev.Prompts) > 0 {
		fmt.Fprintf(w, "prompts (%s):\n", ev.Prompts[0].From)
		for i, p := range ev.Prompts {
			mark := ""
			if p.Pass != nil && !*p.Pass {
				mark = "  FAIL"
			}
			fmt.Fprintf(w, "  %d. %q%s\n", i+1, p.Prompt, mark)
			fmt.Fprintf(w, "     active  %s %s: %s\n", orNone(string(p.Active.Color)), orNone(p.Active.Version), reply(p.Active))
			fmt.Fprintf(w, "     standby %s %s: %s\n", orNone(string(p.Standby.Color)), orNone(p.Standby.Version), reply(p.Standby))
		}
	}
	if n := len(ev.Analysis); n > 0 {
		last := ev.Analysis[n-1]
		fmt.Fprintf(w, "analysis: %d windows; the last at weight %d%%: %s: %s\n", n, last.Weight, last.Verdict, last.Reason)
	}
	if len(ev.LogTail) > 0 && lines > 0 {
		tail := ev.LogTail[max(0, len(ev.LogTail)-lines):]
		fmt.Fprintf(w, "standby log (last %d of %d lines in %s):\n", len(tail), len(ev.LogTail), reconciler.EvidenceLogFile)
		for _, l := range tail {
			fmt.Fprintf(w, "  %s\n", cut(l, 240))
		}
	}
}

// printVerdict shows the quality scores of both versions against the bounds.
func printVerdict(w io.Writer, v *quality.Verdict) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scores:\tACTIVE\tSTANDBY\tVALUE\tBOUND")
	fmt.Fprintf(tw, "  perplexity\t%s\t%s\t%s\t%s\n", g3(v.Active.Perplexity), g3(v.Candidate.Perplexity), g3(v.PerplexityRatio)+" (ratio)"+v.PerplexityRatioCI.In(),
		"<= "+g3(v.MaxPerplexityRatio))
	kl := g3(v.MeanKL) + v.MeanKLCI.In()
	if v.KLError != "" {
		kl = "n/a: " + v.KLError
	}
	fmt.Fprintf(tw, "  mean KL\t\t\t%s\t%s\n", kl, "<= "+g3(v.MaxKL))
	fmt.Fprintf(tw, "  tokens scored\t%d\t%d\t\t\n", v.Active.Tokens, v.Candidate.Tokens)
	tw.Flush()
	fmt.Fprintf(w, "verdict:  %s\n", v.Summary())
}

func reply(r reconciler.EvidenceReply) string {
	if r.Error != "" {
		return "error: " + cut(r.Error, 200)
	}
	return strconv.Quote(cut(r.Text, 200))
}

func g3(f float64) string { return strconv.FormatFloat(f, 'g', 3, 64) }

// cut shortens s to n bytes, marking the cut.
func cut(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// printEvidenceLink points status and history at a failed deploy's evidence.
func printEvidenceLink(w io.Writer, indent, id, dir, why string) {
	switch {
	case dir != "":
		fmt.Fprintf(w, "%sevidence: %s (zdml evidence %s)\n", indent, dir, id)
	case why != "":
		fmt.Fprintf(w, "%sevidence: none kept: %s\n", indent, why)
	}
}

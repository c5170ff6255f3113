package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/spec"
)

func init() {
	register("status", "show the sync state, colors, last deploy and quarantine [--json]", runStatus)
	register("history", "show the last deploys with step timings [-n 20] [--json]", runHistory)
	register("prewarm-status", "is a standby warm and ready for deploy-fast: color, version, warmed_at, ready [--json]", runPrewarmStatus)
}

// errNotWarm is prewarm-status's answer when no standby is ready: a
// non-zero exit, so scripts can wait for it.
var errNotWarm = errors.New("no standby is ready for a fast deploy")

// runPrewarmStatus prints the prewarmed standby from the status report,
// checked live: ready only when its /ready answers 200 as well.
func runPrewarmStatus(ctx context.Context, log *slog.Logger, args []string) error {
	var asJSON bool
	f, fs, err := parseFlags("prewarm-status", "prewarm-status [--json] [flags]", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	rep, err := readStatus(ctx, log, f)
	if err != nil {
		return err
	}
	p := rep.Prewarm
	if p == nil {
		p = &reconciler.PrewarmReport{Reason: "no standby is prewarmed: run zdml prewarm (make prewarm)"}
	}
	if p.Ready {
		if err := probeReady(ctx, colorAddr(rep, p.Color)); err != nil {
			p.Ready, p.Reason = false, fmt.Sprintf("%s is warm with %s but not ready: %v", p.Color, p.Version, err)
		}
	}
	if asJSON {
		if err := writeJSON(stdout, p); err != nil {
			return err
		}
	} else {
		printPrewarm(stdout, p)
	}
	if !p.Ready {
		return errNotWarm
	}
	return nil
}

func printPrewarm(w io.Writer, p *reconciler.PrewarmReport) {
	fmt.Fprintf(w, "standby:   %s %s\n", orNone(string(p.Color)), orNone(p.Version))
	if !p.WarmedAt.IsZero() {
		fmt.Fprintf(w, "warmed at: %s (%s ago)\n", p.WarmedAt.Local().Format("2006-01-02 15:04:05"), time.Since(p.WarmedAt).Round(time.Second))
	}
	ready := "no"
	if p.Ready {
		ready = "yes"
	}
	fmt.Fprintf(w, "ready:     %s: %s\n", ready, p.Reason)
}

func colorAddr(rep reconciler.StatusReport, c spec.Color) string {
	for _, cr := range rep.Colors {
		if cr.Color == c {
			return cr.Addr
		}
	}
	return ""
}

// probeReady asks a color's /ready (a real 2-token inference at most every
// 5 s, cached by the server).
func probeReady(ctx context.Context, addr string) error {
	if addr == "" {
		return errors.New("no address")
	}
	resp, b, err := httpGet(ctx, "http://"+addr+"/ready", 10*time.Second, 4096)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/ready %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

func runStatus(ctx context.Context, log *slog.Logger, args []string) error {
	var asJSON bool
	f, _, err := parseFlags("status", "status [--json] [flags]", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	rep, err := readStatus(ctx, log, f)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, rep)
	}
	printStatus(stdout, rep)
	return nil
}

// readStatus asks the daemon when one runs, else observes directly.
func readStatus(ctx context.Context, log *slog.Logger, f *stateFlags) (reconciler.StatusReport, error) {
	if h, held, err := reconciler.LockHolder(f.stateDir); err == nil && held && h.APIAddr != "" {
		if rep, err := reconciler.NewClient(h.APIAddr).Status(ctx); err == nil {
			return rep, nil
		}
	}
	cfg, err := f.config(log, "status")
	if err != nil {
		return reconciler.StatusReport{}, err
	}
	v, err := reconciler.NewViewer(cfg)
	if err != nil {
		return reconciler.StatusReport{}, err
	}
	return v.Status(ctx), nil
}

func printStatus(w io.Writer, r reconciler.StatusReport) {
	fmt.Fprintf(w, "sync:     %s\n", r.SyncState)
	fmt.Fprintf(w, "serving:  %s %s (commit %s)\n", orNone(string(r.ActiveColor)), r.ActiveVersion, orNone(short(r.DeployedCommit)))
	fmt.Fprintf(w, "desired:  %s (commit %s) from %s\n", orNone(r.DesiredVersion), orNone(short(r.DesiredCommit)), r.Source)
	if r.DesiredError != "" {
		fmt.Fprintf(w, "          error: %s\n", r.DesiredError)
	}
	if r.Step != "" {
		fmt.Fprintf(w, "deploying: %s at step %s\n", r.DeployID, r.Step)
	}
	if q := r.Quarantine; q != nil {
		fmt.Fprintf(w, "quarantined: %s\n          (not retried until desired.yaml changes; zdml deploy retries it)\n", q.Reason)
	}
	if rs := r.Retry; rs != nil {
		fmt.Fprintf(w, "retrying: %s\n          (a failure of the environment: retried by itself; zdml deploy tries now)\n", rs.Describe(time.Now()))
	}
	if l := r.LastDeploy; l != nil {
		fmt.Fprintf(w, "last:     %s %s %s: %s -> %s, %s", l.Kind, l.ID, l.Outcome, orNone(l.FromVersion), l.ToVersion,
			l.FinishedAt.Sub(l.StartedAt).Round(time.Millisecond))
		if l.Reason != "" {
			label := l.FailedStep
			if label == "" {
				label = l.Outcome
			}
			fmt.Fprintf(w, "\n          %s: %s", label, l.Reason)
		}
		fmt.Fprintln(w)
		printEvidenceLink(w, "          ", l.ID, l.Evidence, l.EvidenceError)
	}
	if p := r.Prewarm; p != nil {
		fmt.Fprintf(w, "prewarm:  %s %s warmed %s; ready %v: %s\n", p.Color, p.Version,
			p.WarmedAt.Local().Format("15:04:05"), p.Ready, p.Reason)
	}
	if m := r.Maintenance; m != nil {
		fmt.Fprintf(w, "maintenance: on since %s (Retry-After %s): %q\n          (zdml maintenance off restores traffic)\n",
			m.Since.Local().Format("15:04:05"), m.RetryAfter, m.Message)
	}
	if c := r.Canary; c != nil {
		printCanary(w, c)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COLOR\tROLE\tRUNNING\tVERSION\tID\tADDR\tPRIORITY")
	for _, c := range r.Colors {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%s\n", c.Color, c.Role, c.Running, c.Version, c.ID, c.Addr, c.Priority)
	}
	router := "nginx"
	if r.Nginx.Router != "" {
		router = r.Nginx.Router
	}
	fmt.Fprintf(tw, "%s\tactive=%s\t%v\t%s\t%s\t\t\n", router, orNone(string(r.Nginx.Active)), r.Nginx.Running, r.Nginx.Hash, r.Nginx.ID)
	tw.Flush()
	for _, c := range r.Conditions {
		fmt.Fprintf(w, "%-12s %-5s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
	}
}

func runHistory(ctx context.Context, _ *slog.Logger, args []string) error {
	var asJSON bool
	var n int
	f, _, err := parseFlags("history", "history [-n 20] [--json] [flags]", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON lines")
		fs.IntVar(&n, "n", 20, "how many deploys")
	})
	if err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("-n %d: want a positive number", n)
	}
	recs, err := reconciler.ReadHistory(f.stateDir, n)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	printHistory(stdout, recs)
	return nil
}

func printHistory(w io.Writer, recs []reconciler.DeployRecord) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "no deploys yet")
		return
	}
	for _, r := range recs {
		fmt.Fprintf(w, "%s  %-9s %-11s %s -> %s (%s -> %s) commit %s  %s\n", r.StartedAt.Local().Format("2006-01-02 15:04:05"),
			r.Kind, r.Outcome, orNone(r.FromVersion), orNone(r.ToVersion), orNone(string(r.From)), orNone(string(r.To)),
			orNone(short(r.Commit)), r.Duration.Round(time.Millisecond))
		var parts []string
		for _, s := range r.Steps {
			mark := ""
			if s.Outcome != "ok" {
				mark = "!" + s.Outcome
			}
			parts = append(parts, fmt.Sprintf("%s %s%s", s.Name, s.Duration.Round(time.Millisecond), mark))
		}
		fmt.Fprintf(w, "    steps: %s\n", strings.Join(parts, ", "))
		if r.Reason != "" {
			label := r.FailedStep
			if label == "" {
				label = r.Outcome
			}
			fmt.Fprintf(w, "    %s: %s\n", label, r.Reason)
		}
		if r.Retry != nil {
			fmt.Fprintf(w, "    retry: attempt %d (%s), next at %s\n", r.Retry.Attempt, r.Retry.Kind, r.Retry.NextAttemptAt.Local().Format("15:04:05"))
		}
		printEvidenceLink(w, "    ", r.ID, r.Evidence, r.EvidenceError)
	}
}

// printCanary shows a canary as `kubectl argo rollouts get rollout` does:
// step, weight, status, and each metric's last value against its bound.
func printCanary(w io.Writer, c *reconciler.CanaryReport) {
	fmt.Fprintf(w, "canary:   %s %s (stable %s)  step %d/%d %s  weight %d%%  %s\n", c.Canary, c.Version, c.Stable,
		c.Step, c.Steps, c.StepText, c.Weight, strings.ToUpper(c.Status))
	if c.Message != "" {
		fmt.Fprintf(w, "          %s\n", c.Message)
	}
	fmt.Fprintf(w, "analysis: %d windows, %d failed of failureLimit %d", c.Windows, c.Failures, c.FailureLimit)
	if l := c.Last; l != nil {
		fmt.Fprintf(w, "; last %s at %s: %s", l.Verdict, l.At.Local().Format("15:04:05"), l.Reason)
		if l.Share.Valid() {
			fmt.Fprintf(w, " (canary share %.1f%% of %.0f requests)", 100*float64(l.Share), l.CanaryRequests+l.StableRequests)
		}
	}
	fmt.Fprintln(w)
	if len(c.Metrics) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  METRIC\tBOUND\tCANARY\tSTABLE\tRATIO\tLAST")
	for _, m := range c.Metrics {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", m.Metric, m.Bound, num(m.Value), num(m.Stable), num(m.Ratio), orNone(string(m.Verdict)))
	}
	tw.Flush()
}

// num formats a metric value, "-" when there is none.
func num(n analysis.Number) string {
	if !n.Valid() {
		return "-"
	}
	return fmt.Sprintf("%.4g", float64(n))
}

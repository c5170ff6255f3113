package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"

	"github.com/zero-downtime-ml/zdml/loadgen"
	"github.com/zero-downtime-ml/zdml/reports"
)

func init() {
	register("report", "regenerate reports and latest.md from raw results: zdml report [RUN_DIR|results.bin ...] (default: the latest run of each scenario); zdml report --summary rewrites latest.md alone from the committed records", runReport)
}

func runReport(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	reportsDir := fs.String("reports-dir", envOr("ZDML_REPORTS_DIR", "reports"), "where reports are written (env ZDML_REPORTS_DIR)")
	runsDir := fs.String("runs-dir", envOr("ZDML_RUNS_DIR", filepath.Join("reports", "runs")), "raw runs, for the default selection (env ZDML_RUNS_DIR)")
	summary := fs.Bool("summary", false, "also rewrite latest.md from the newest record of each scenario in --reports-dir; alone, only that (no raw runs needed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	paths := fs.Args()
	if len(paths) == 0 && !*summary {
		runs, err := latestRuns(*runsDir)
		if err != nil {
			return err
		}
		paths, *summary = runs, true
	}
	for _, p := range paths {
		rep, err := reports.Load(p)
		if err != nil {
			return err
		}
		out, err := rep.Write(*reportsDir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d requests, %d failed, outcome %s, thresholds %d/%d -> %s\n", rep.Name(),
			rep.Analysis.All.Requests, rep.Analysis.All.Failed, rep.Outcome(), rep.PassedCount(), len(rep.Thresholds), out)
	}
	if *summary {
		path, err := writeLatestSummary(*reportsDir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "summary -> %s\n", path)
	}
	return nil
}

// latestRuns lists, for each scenario, its most recently started run
// directory under runsDir.
func latestRuns(runsDir string) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(runsDir, "*", loadgen.ResultsFile))
	if err != nil {
		return nil, err
	}
	type run struct {
		dir  string
		info *loadgen.RunInfo
	}
	latest := map[string]run{}
	for _, res := range dirs {
		dir := filepath.Dir(res)
		info, err := loadgen.ReadRunInfo(dir)
		if err != nil {
			return nil, err
		}
		if cur, ok := latest[info.Scenario]; !ok || info.Started.After(cur.info.Started) {
			latest[info.Scenario] = run{dir, info}
		}
	}
	if len(latest) == 0 {
		return nil, fmt.Errorf("no runs in %s (run make loadtest-deploy first)", runsDir)
	}
	out := make([]string, 0, len(latest))
	for _, r := range latest {
		out = append(out, r.dir)
	}
	sort.Strings(out)
	return out, nil
}

// writeLatestSummary writes reportsDir/latest.md from the newest record of
// every scenario in reportsDir: the runs of every command, made on any day
// and committed, not only those whose raw results are on this machine.
func writeLatestSummary(reportsDir string) (string, error) {
	recs, err := reports.LatestRecords(reportsDir)
	if err != nil {
		return "", err
	}
	if len(recs) == 0 {
		return "", fmt.Errorf("no records in %s (run make loadtest-deploy first)", reportsDir)
	}
	sort.SliceStable(recs, func(i, j int) bool { return suiteRank(recs[i].Scenario) < suiteRank(recs[j].Scenario) })
	return reports.WriteSummary(reportsDir, recs)
}

func suiteRank(name string) int {
	for i, n := range suiteOrder {
		if n == name {
			return i
		}
	}
	return len(suiteOrder)
}

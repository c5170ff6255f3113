package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/loadgen"
	"github.com/zero-downtime-ml/zdml/reports"
)

func init() {
	register("loadtest", "run load-test scenarios on a stack of their own and write reports/: zdml loadtest [--scenario NAME,...]", runLoadtest)
}

// suiteOrder is the order `zdml loadtest` runs the shipped scenarios in
// when none is named, others following by name, and the order of
// latest.md's rows: each large-model scenario (loadgen/scenarios/large,
// make loadtest-large) right after the demo scenario it mirrors.
var suiteOrder = []string{"baseline", "no-traffic-deploy", "deploy-under-load", "deploy-under-load-large",
	"prewarm-fast", "prewarm-fast-large", "rollback-under-load", "long-streams-large", "quality-regression",
	"canary-under-load", "canary-regression", "deploy-storm-short", "deploy-storm", "soak"}

// defaultScenariosDir holds the scenarios make loadtest-deploy runs.
const defaultScenariosDir = "loadgen/scenarios"

type loadtestFlags struct {
	scenarios, scenariosDir, reportsDir, runsDir string
	modelsDir, modelserver, zdml, runtime, image string
	url, repo, api, events                       string
	duration                                     time.Duration
	every                                        time.Duration
	command                                      string
	envErrs                                      []error
}

func (f *loadtestFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.scenarios, "scenario", envOr("ZDML_SCENARIO", ""), "comma-separated scenario names; all when empty (env ZDML_SCENARIO)")
	fs.StringVar(&f.scenariosDir, "scenarios-dir", envOr("ZDML_SCENARIOS_DIR", defaultScenariosDir), "scenario files (env ZDML_SCENARIOS_DIR)")
	fs.StringVar(&f.reportsDir, "reports-dir", envOr("ZDML_REPORTS_DIR", "reports"), "where reports are written (env ZDML_REPORTS_DIR)")
	fs.StringVar(&f.runsDir, "runs-dir", envOr("ZDML_RUNS_DIR", filepath.Join("reports", "runs")), "where raw results are written (env ZDML_RUNS_DIR)")
	fs.StringVar(&f.modelsDir, "models-dir", envOr("ZDML_MODELS_DIR", "models"), "models directory (env ZDML_MODELS_DIR)")
	fs.StringVar(&f.modelserver, "modelserver", envOr("ZDML_MODELSERVER", defaultModelserver()), "model server binary (env ZDML_MODELSERVER)")
	fs.StringVar(&f.zdml, "zdml", envOr("ZDML_BINARY", selfPath()), "zdml binary the stack's reconciler runs from (env ZDML_BINARY)")
	fs.StringVar(&f.runtime, "runtime", envOr("ZDML_RUNTIME", "process"), "spec.runtime of the stack: process or docker (env ZDML_RUNTIME)")
	fs.StringVar(&f.image, "image", envOr("ZDML_IMAGE", ""), "spec.image for runtime docker (env ZDML_IMAGE)")
	fs.StringVar(&f.url, "url", envOr("ZDML_LOADTEST_URL", ""), "send traffic to this running stack instead of starting one (env ZDML_LOADTEST_URL)")
	fs.StringVar(&f.repo, "repo", envOr("ZDML_REPO", ""), "with --url: the repository its reconciler watches, for deploys (env ZDML_REPO)")
	fs.StringVar(&f.api, "api", envOr("ZDML_LOADTEST_API", "http://127.0.0.1:9400"), "with --url: its reconciler's API (env ZDML_LOADTEST_API)")
	fs.StringVar(&f.events, "events", envOr("ZDML_LOADTEST_EVENTS", ".zdml/events.jsonl"), "with --url: its events.jsonl (env ZDML_LOADTEST_EVENTS)")
	fs.DurationVar(&f.duration, "duration", envDuration("ZDML_LOADTEST_DURATION", 0, &f.envErrs), "override every scenario's load.duration, the deploy moving with it (env ZDML_LOADTEST_DURATION)")
	fs.DurationVar(&f.every, "progress", 5*time.Second, "progress line interval on stderr")
	fs.StringVar(&f.command, "command", envOr("ZDML_LOADTEST_COMMAND", ""), "the command to print in reports as the way to reproduce them (env ZDML_LOADTEST_COMMAND)")
}

func selfPath() string {
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return "bin/zdml"
}

func runLoadtest(ctx context.Context, log *slog.Logger, args []string) error {
	var f loadtestFlags
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	f.bind(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (scenarios go in --scenario)", fs.Arg(0))
	}
	if err := errors.Join(f.envErrs...); err != nil {
		return err
	}
	scs, err := f.selectScenarios()
	if err != nil {
		return err
	}
	var reps []*reports.Report
	var failures []string
	for _, sc := range scs {
		if ctx.Err() != nil {
			break
		}
		rep, err := f.runOne(ctx, log, sc)
		if rep != nil {
			reps = append(reps, rep)
			if !rep.Passed() {
				failures = append(failures, sc.Name+": "+failedThresholds(rep))
			}
		}
		// The run's own error is in the report's failures already.
		if err != nil && (rep == nil || err.Error() != "run "+sc.Name+": "+rep.Data.Info.Error) {
			failures = append(failures, sc.Name+": "+err.Error())
		}
	}
	if len(reps) > 0 {
		if path, err := writeLatestSummary(f.reportsDir); err == nil {
			fmt.Fprintf(os.Stderr, "summary: %s\n", path)
		} else {
			failures = append(failures, "summary: "+err.Error())
		}
	}
	if ctx.Err() != nil {
		failures = append(failures, "interrupted")
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d problem(s):\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	return nil
}

// selectScenarios loads the named scenarios (all by default) in suite order
// and applies --duration.
func (f *loadtestFlags) selectScenarios() ([]*loadgen.Scenario, error) {
	all, err := loadgen.LoadScenarios(f.scenariosDir)
	if err != nil {
		return nil, err
	}
	rank := func(s *loadgen.Scenario) int {
		if i := slices.Index(suiteOrder, s.Name); i >= 0 {
			return i
		}
		return len(suiteOrder)
	}
	slices.SortStableFunc(all, func(a, b *loadgen.Scenario) int { return rank(a) - rank(b) })
	var out []*loadgen.Scenario
	var names []string
	for _, s := range all {
		names = append(names, s.Name)
	}
	if f.scenarios == "" {
		out = all
	} else {
		for _, n := range strings.Split(f.scenarios, ",") {
			i := slices.IndexFunc(all, func(s *loadgen.Scenario) bool { return s.Name == strings.TrimSpace(n) })
			if i < 0 {
				return nil, fmt.Errorf("no scenario %q in %s (have %s)", n, f.scenariosDir, strings.Join(names, ", "))
			}
			out = append(out, all[i])
		}
	}
	if f.duration > 0 {
		for i, s := range out {
			out[i] = s.WithDuration(f.duration)
		}
	}
	return out, nil
}

// runOne runs one scenario and writes its report.
func (f *loadtestFlags) runOne(ctx context.Context, log *slog.Logger, sc *loadgen.Scenario) (*reports.Report, error) {
	text, err := os.ReadFile(sc.File)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(f.runsDir, time.Now().UTC().Format("2006-01-02")+"-"+sc.Name)
	info := loadgen.RunInfo{ScenarioYAML: string(text), ScenarioFile: filepath.ToSlash(sc.File), Command: f.reproduce(sc)}
	if f.duration > 0 {
		info.Duration = f.duration.String()
	}
	fmt.Fprintf(os.Stderr, "== %s: %s\n", sc.Name, sc.Description)
	opts := []loadgen.Option{loadgen.WithProgress(os.Stderr, f.every), loadgen.WithLogger(log)}
	var data *loadgen.RunData
	if f.url != "" {
		data, err = f.runExternal(ctx, sc, dir, info, opts)
	} else {
		cfg := loadgen.StackConfig{Zdml: f.zdml, Modelserver: f.modelserver, ModelsDir: absPath(f.modelsDir),
			Runtime: f.runtime, Image: f.image, Log: log}
		data, err = loadgen.RunManaged(ctx, sc, cfg, dir, info, opts...)
	}
	if data == nil {
		return nil, err
	}
	rep, rerr := reports.New(data)
	if rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	path, werr := rep.Write(f.reportsDir)
	if werr != nil {
		return rep, errors.Join(err, werr)
	}
	a := rep.Analysis
	fmt.Fprintf(os.Stderr, "== %s: %d requests, %d failed (%.2f%%), outcome %s, thresholds %d/%d; report %s\n",
		sc.Name, a.All.Requests, a.All.Failed, a.All.FailedRate()*100, rep.Outcome(), rep.PassedCount(), len(rep.Thresholds), path)
	return rep, err
}

// runExternal drives a stack the user runs (make generate-traffic).
func (f *loadtestFlags) runExternal(ctx context.Context, sc *loadgen.Scenario, dir string, info loadgen.RunInfo, opts []loadgen.Option) (*loadgen.RunData, error) {
	if sc.HasDeploys() && f.repo == "" {
		return nil, fmt.Errorf("scenario %s deploys: with --url, give --repo (the repository its reconciler watches)", sc.Name)
	}
	if sc.HasDeploys() {
		opts = append(opts, loadgen.WithDeployer(&loadgen.GitOps{Repo: f.repo, File: "desired.yaml", APIURL: f.api}))
	}
	info.Env = loadgen.CaptureEnvironment(ctx, f.modelsDir)
	opts = append(opts, loadgen.WithEvents(f.events), loadgen.WithRunInfo(info))
	return loadgen.NewRunner(sc, f.url, dir, opts...).Run(ctx)
}

func (f *loadtestFlags) reproduce(sc *loadgen.Scenario) string {
	c := "zdml loadtest --scenario " + sc.Name
	if filepath.Clean(f.scenariosDir) != defaultScenariosDir {
		c += " --scenarios-dir " + filepath.ToSlash(f.scenariosDir)
	}
	if f.duration > 0 {
		c += " --duration " + f.duration.String()
	}
	if f.runtime != "process" {
		c += " --runtime " + f.runtime
	}
	if f.command != "" {
		return f.command + "\n# or, for this scenario alone:\n" + c
	}
	return c
}

func failedThresholds(r *reports.Report) string {
	var out []string
	for _, t := range r.Thresholds {
		if !t.Pass {
			got := t.Got
			if t.Note != "" {
				got = t.Note
			}
			out = append(out, fmt.Sprintf("%s (got %s)", t.Text, got))
		}
	}
	if r.Data.Info.Error != "" {
		out = append(out, r.Data.Info.Error)
	}
	return "failed: " + strings.Join(out, "; ")
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

package reports

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
	"github.com/zero-downtime-ml/zdml/loadgen"
)

// SummaryFile is the summary of the latest run of every scenario.
const SummaryFile = "latest.md"

// Write writes the report's markdown (dir/<date>-<scenario>.md) and its
// charts (dir/img/) and returns the markdown's path.
func (r *Report) Write(dir string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "img"), 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	lat, rps := r.ChartNames()
	charts := append([]chart{{name: lat, make: r.LatencyChart}, {name: rps, make: r.RateChart}}, r.resourceCharts()...)
	for _, c := range charts {
		png, err := c.make()
		if err != nil {
			return "", fmt.Errorf("report %s: chart %s: %w", r.Name(), c.name, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, filepath.FromSlash(c.name)), png, 0o644); err != nil {
			return "", fmt.Errorf("report: %w", err)
		}
	}
	var md bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.BaseName()+".md")
	return path, atomicfile.WriteFile(path, md.Bytes(), 0o644)
}

// seedOrder is the order of the original design's results table.
var seedOrder = []string{
	"standard deploy, no traffic",
	"standard deploy under load",
	"prewarm + fast deploy under load",
}

// Summary writes latest.md: the original design's results table with our
// measured numbers beside it, one row per scenario, each linking to its
// report and naming the model it served. The runs may come from several
// commands (make loadtest-deploy, make loadtest-large) and times: each row's
// load table line has the load average its run began with.
func Summary(reports []*Report) []byte {
	rs := append([]*Report(nil), reports...)
	sort.SliceStable(rs, func(i, j int) bool { return seedRank(rs[i]) < seedRank(rs[j]) })
	cmds := commands(rs)
	var b strings.Builder
	b.WriteString("# Deploying a new model under load: measured results\n\n")
	b.WriteString("The original design's results table (Locust, SmolLM2-1.7B-Instruct Q4_K_M, a 1.0 GB file, on an 8 GB Mac " +
		"with 2 cores for Docker) beside ours, measured on the same 2-core budget by " + quoteList(cmds, "`zdml loadtest`") +
		". Every number on our side comes from the raw results of the linked run.\n\n")
	b.WriteString("| scenario | seed duration | seed failed | seed outcome | our model | our duration | our requests | our failed | our outcome | thresholds |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		b.WriteString(summaryRow(r))
	}
	b.WriteString("\nDurations: ours is the deploy, from the reconciler's first step to its last " +
		"(for prewarm, the warm-up and the swap apart), or the run when there is no deploy. " +
		"Our model's size is its file's, in decimal units (1 GB = 10^9 bytes) as Hugging Face gives SmolLM2's 1.0 GB.\n\n")
	b.WriteString("## Load per scenario\n\n| scenario | load | request mix | max_tokens | timeout | load average at start |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		b.WriteString(loadRow(r))
	}
	b.WriteString("\n")
	if env := mergedEnvironment(rs); env != nil {
		writeEnvironment(&b, env, rs[0].Data.Info.Runtime, false)
	}
	if len(cmds) > 0 {
		fmt.Fprintf(&b, "Reproduce: %s\n", quoteList(cmds, ""))
	}
	return []byte(b.String())
}

// commands lists the distinct commands the runs were made with, in order.
func commands(rs []*Report) []string {
	var out []string
	for _, r := range rs {
		if c := firstCommand(r.Data.Info.Command); c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// quoteList writes "`a`", "`a` and `b`", "`a`, `b` and `c`"; def when empty.
func quoteList(items []string, def string) string {
	if len(items) == 0 {
		return def
	}
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = "`" + it + "`"
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// mergedEnvironment is the first run's environment with the model files of
// every run.
func mergedEnvironment(rs []*Report) *loadgen.Environment {
	var env *loadgen.Environment
	seen := map[string]bool{}
	for _, r := range rs {
		e := r.Data.Info.Env
		if e == nil {
			continue
		}
		if env == nil {
			c := *e
			c.Models = nil
			env = &c
		}
		for _, m := range e.Models {
			if !seen[m.Name] {
				seen[m.Name] = true
				env.Models = append(env.Models, m)
			}
		}
	}
	return env
}

// modelCell names the model a run served and its file's size, and the
// version it deployed: "demo v1 → v2, 117 MB".
func modelCell(r *Report) string {
	sc := r.Scenario
	if sc == nil {
		return "–"
	}
	m := sc.Stack.Model
	cell := m.Name + " " + m.Version
	if d := sc.Deploy; d != nil {
		if d.Model.Name != m.Name {
			cell += " → " + d.Model.Name
		}
		cell += " → " + d.Model.Version
	}
	if s := sc.Series; s != nil {
		cell += " ⇄ " + strings.Join(s.Versions(m)[1:], " ⇄ ")
	}
	if env := r.Data.Info.Env; env != nil {
		for _, f := range env.Models {
			if f.Name == filepath.Base(m.Path) && f.Bytes > 0 {
				cell += ", " + decimalSize(f.Bytes)
			}
		}
	}
	return cell
}

func seedRank(r *Report) int {
	if r.Scenario != nil && r.Scenario.Seed != nil {
		for i, s := range seedOrder {
			if s == r.Scenario.Seed.Row {
				return i
			}
		}
		return len(seedOrder)
	}
	return len(seedOrder) + 1
}

func summaryRow(r *Report) string {
	a := r.Analysis
	seed := [4]string{"(not in the seed)", "–", "–", "–"}
	if r.Scenario != nil && r.Scenario.Seed != nil {
		s := r.Scenario.Seed
		seed = [4]string{s.Row, s.Duration, s.Failed, s.Outcome}
	}
	dur := secs(a.End.Sub(a.Start)) + " (no deploy)"
	if d := a.Deploy; d != nil && len(d.Events) > 0 {
		dur = DeployDuration(d)
	}
	if s := a.Series; s != nil {
		dur = fmt.Sprintf("%d deploys, %s in windows", len(s.Windows), secs(s.WindowTime()))
	}
	th := r.thresholdsCell()
	if r.Data.Info.Error != "" {
		th += "; run error"
	}
	return fmt.Sprintf("| [%s](%s.md): %s | %s | %s | %s | %s | %s | %d | %d (%s) | %s | %s |\n",
		r.Name(), r.BaseName(), seed[0], seed[1], seed[2], seed[3], modelCell(r), dur, a.All.Requests, a.All.Failed,
		pct(a.All.FailedRate()), r.Outcome(), th)
}

func loadRow(r *Report) string {
	sc := r.Scenario
	loadAvg := "–"
	if e := r.Data.Info.Env; e != nil && e.LoadAvg != "" {
		loadAvg = e.LoadAvg
	}
	if sc == nil {
		return fmt.Sprintf("| %s | (not recorded) | | | | %s |\n", r.Name(), loadAvg)
	}
	l := sc.Load
	load := fmt.Sprintf("%s for %s", l.Rate, l.Duration.Duration)
	if l.Concurrency > 0 {
		load = fmt.Sprintf("%d clients for %s", l.Concurrency, l.Duration.Duration)
	}
	return fmt.Sprintf("| %s | %s | %s | %d | %s | %s |\n", r.Name(), load, mixText(l), l.MaxTokens, l.Timeout.Duration, loadAvg)
}

func firstCommand(c string) string {
	c, _, _ = strings.Cut(c, "\n")
	return c
}

// WriteSummary writes dir/latest.md.
func WriteSummary(dir string, reports []*Report) (string, error) {
	path := filepath.Join(dir, SummaryFile)
	return path, atomicfile.WriteFile(path, Summary(reports), 0o644)
}

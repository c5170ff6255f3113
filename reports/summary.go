package reports

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
	"github.com/zero-downtime-ml/zdml/loadgen"
)

// SummaryFile is the summary of the latest run of every scenario.
const SummaryFile = "latest.md"

// seedOrder is the order of the original design's results table.
var seedOrder = []string{
	"standard deploy, no traffic",
	"standard deploy under load",
	"prewarm + fast deploy under load",
}

// Summary writes latest.md from the records of runs: the original design's
// results table with our measured numbers beside it, one row per run, each
// linking to its report and naming the model it served. The runs may come
// from several commands (make loadtest-deploy, make loadtest-large) and
// days: each row's load table line has the load average its run began
// with.
func Summary(records []*Record) []byte {
	rs := append([]*Record(nil), records...)
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
		writeEnvironment(&b, env, rs[0].Runtime, false)
	}
	if len(cmds) > 0 {
		fmt.Fprintf(&b, "Reproduce: %s\n", quoteList(cmds, ""))
	}
	return []byte(b.String())
}

// commands lists the distinct commands the runs were made with, in order.
func commands(rs []*Record) []string {
	var out []string
	for _, r := range rs {
		if c := r.Command; c != "" && !slices.Contains(out, c) {
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
func mergedEnvironment(rs []*Record) *loadgen.Environment {
	var env *loadgen.Environment
	seen := map[string]bool{}
	for _, r := range rs {
		e := r.Env
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

func seedRank(r *Record) int {
	if r.Seed == nil {
		return len(seedOrder) + 1
	}
	if i := slices.Index(seedOrder, r.Seed.Row); i >= 0 {
		return i
	}
	return len(seedOrder)
}

func summaryRow(r *Record) string {
	seed := RecordSeed{Row: "(not in the seed)", Duration: "–", Failed: "–", Outcome: "–"}
	if r.Seed != nil {
		seed = *r.Seed
	}
	th := r.Thresholds.String()
	if r.RunError != "" {
		th += "; run error"
	}
	failed := loadgen.Stats{Requests: r.Requests, Failed: r.Failed}.FailedRate()
	return fmt.Sprintf("| [%s](%s.md): %s | %s | %s | %s | %s | %s | %d | %d (%s) | %s | %s |\n",
		r.Scenario, r.BaseName(), seed.Row, seed.Duration, seed.Failed, seed.Outcome, r.Model, r.Duration,
		r.Requests, r.Failed, pct(failed), r.Outcome, th)
}

func loadRow(r *Record) string {
	loadAvg := "–"
	if e := r.Env; e != nil && e.LoadAvg != "" {
		loadAvg = e.LoadAvg
	}
	l := r.Load
	if l == nil {
		return fmt.Sprintf("| %s | (not recorded) | | | | %s |\n", r.Scenario, loadAvg)
	}
	load := l.Rate + " for " + l.Duration
	if l.Clients > 0 {
		load = fmt.Sprintf("%d clients for %s", l.Clients, l.Duration)
	}
	return fmt.Sprintf("| %s | %s | %s | %d | %s | %s |\n", r.Scenario, load, l.Mix, l.MaxTokens, l.Timeout, loadAvg)
}

func firstCommand(c string) string {
	c, _, _ = strings.Cut(c, "\n")
	return c
}

// WriteSummary writes dir/latest.md from the records, atomically.
func WriteSummary(dir string, records []*Record) (string, error) {
	path := filepath.Join(dir, SummaryFile)
	return path, atomicfile.WriteFile(path, Summary(records), 0o644)
}

package monitoring

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// TestLiveDeploy is the whole monitoring path as a user meets it: the real
// reconciler (bin/zdml reconcile) runs blue v1 behind nginx, real
// Prometheus scrapes both colors and the reconciler every second, clients
// chat through nginx, and `zdml monitor deploy` commits v2 and writes its
// report. Then every query of every dashboard panel, annotations included,
// must return data with the labels its legend shows, and no alert may be
// pending or firing after a clean deploy.
func TestLiveDeploy(t *testing.T) {
	s := newStack(t)
	s.start()
	s.waitStatus(t, "synced v1", 2*time.Minute, func(st Status) bool {
		return st.SyncState == "synced" && st.ActiveVersion == "v1" && st.ActiveColor == "blue"
	})
	srv, prom := startPrometheus(t, ScrapeConfig{Blue: s.blue, Green: s.green, Reconciler: s.api})
	started := time.Now()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go sendTraffic(ctx, s.public)
	go sendTraffic(ctx, s.public)
	waitQuery(t, prom, `color:zdml_time_to_first_token_seconds:quantile1m{color="blue",quantile="0.95"} >= 0`, 90*time.Second)
	waitQuery(t, prom, `zdml_reconciler_deploys_total{outcome="succeeded"} >= 1`, 30*time.Second)

	s.write(desired("v2"))
	report := monitorDeploy(t, srv.URL(), s.api, s.repo)
	checkReport(t, report)
	if msg := s.git("log", "-1", "--format=%s"); !strings.Contains(msg, "zdml monitor deploy") {
		t.Errorf("last commit %q: zdml monitor deploy did not commit desired.yaml", msg)
	}
	time.Sleep(2 * time.Second) // two more scrapes of green under traffic

	d, err := LoadDashboard("grafana/dashboards/zdml.json")
	if err != nil {
		t.Fatal(err)
	}
	vars := grafanaVars(".*")
	vars["__range"] = promDuration(time.Since(started).Round(time.Second) + 10*time.Second)
	var panels, annotations []Query
	for _, q := range d.Queries() {
		if strings.HasPrefix(q.Panel, "annotation: ") {
			annotations = append(annotations, q)
		} else {
			panels = append(panels, q)
		}
	}
	t.Run("every panel query", func(t *testing.T) { checkQueries(t, prom, panels, vars) })
	t.Run("annotations over the deploy", func(t *testing.T) {
		for _, q := range annotations {
			m, err := prom.QueryRange(context.Background(), Expand(q.Expr, vars), started, time.Now(), time.Second)
			if err != nil || len(m) == 0 {
				t.Errorf("%s: %d series, %v: %s", q.Panel, len(m), err, q.Expr)
			}
		}
	})
	t.Run("which color is up after the swap", func(t *testing.T) {
		v, err := prom.Query(context.Background(), `max by (color) (up{role="model"})`, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got := byColor(v); got["green"] != 1 || got["blue"] != 0 {
			t.Errorf("up by color %v, want green 1, blue 0 (stopped after the drain)", got)
		}
	})
	t.Run("no alert after a clean deploy", func(t *testing.T) {
		alerts, err := prom.Alerts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range alerts {
			t.Errorf("alert %s is %s: %v", a.Labels["alertname"], a.State, a.Labels)
		}
	})
	t.Run("targets", func(t *testing.T) { checkTargets(t, prom, map[string]string{"blue": "down", "green": "up"}) })
	t.Run("a rolled-back deploy fires ZdmlDeployRolledBack", func(t *testing.T) {
		s.write(desiredWarmup("v3", "10ms"))
		s.git("commit", "-q", "-am", "v3 with an impossible warm-up gate")
		st := s.waitStatus(t, "v3 rolled back", 2*time.Minute, func(st Status) bool {
			return st.LastDeploy != nil && st.LastDeploy.ToVersion == "v3" && st.SyncState != "progressing"
		})
		if st.LastDeploy.Outcome != "rolled_back" || st.ActiveColor != "green" || st.ActiveVersion != "v2" {
			t.Fatalf("after v3: outcome %s, active %s %s; want rolled_back and green v2 serving", st.LastDeploy.Outcome, st.ActiveColor, st.ActiveVersion)
		}
		v := waitQuery(t, prom, `ALERTS{alertname="ZdmlDeployRolledBack",alertstate="firing"}`, 30*time.Second)
		if got := v[0].Metric["outcome"]; got != "rolled_back" {
			t.Errorf("alert labels %v", v[0].Metric)
		}
		for _, q := range annotations {
			if q.Panel == "annotation: Deploys" {
				m, err := prom.QueryRange(context.Background(), q.Expr, time.Now().Add(-30*time.Second), time.Now(), time.Second)
				if err != nil || !hasLabel(m, "outcome", "rolled_back") {
					t.Errorf("deploy annotation shows no rolled_back deploy: %v %v", m, err)
				}
			}
		}
	})
	t.Run("zdml monitor deploy without the reconciler API follows its metrics", func(t *testing.T) {
		s.write(desired("v4"))
		report := monitorDeploy(t, srv.URL(), testenv.FreeAddr(t), s.repo) // as in compose: no API reachable
		for _, want := range []string{"| deploy | `deploy #4`: v2 → v4, **succeeded** |", "| active color | green (v2) → blue (v4) |",
			"| deploys finished | succeeded | 1 |"} {
			if !strings.Contains(report, want) {
				t.Errorf("report lacks %q", want)
			}
		}
	})
	t.Run("scrapes stay within the timeout through deploys", func(t *testing.T) {
		for _, agg := range []string{"avg", "max"} {
			// successful scrapes only: a stopped color fails in microseconds
			v, err := prom.Query(context.Background(),
				agg+` by (job) (`+agg+`_over_time((scrape_duration_seconds and up == 1)[5m:1s]))`, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for _, smp := range v {
				t.Logf("%s scrape duration of %s: %.1f ms", agg, smp.Metric["job"], float64(smp.Value)*1000)
				if smp.Value >= 1 {
					t.Errorf("%s scrape of %s took %.2fs, over the 1 s timeout", agg, smp.Metric["job"], float64(smp.Value))
				}
			}
		}
	})
	t.Run("zdml monitor targets", func(t *testing.T) {
		out, err := exec.Command(testenv.Binary(t, "zdml"), "monitor", "targets", "--url", srv.URL()).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(string(out), "down (standby, expected)") || strings.Count(string(out), " up ") < 3 {
			t.Errorf("want blue down as the expected standby and three targets up:\n%s", out)
		}
	})
}

// monitorDeploy runs `zdml monitor deploy` on the work tree's desired.yaml
// and returns the report it wrote.
func monitorDeploy(t *testing.T, promURL, api, repo string) string {
	t.Helper()
	reports := t.TempDir()
	out, err := exec.Command(testenv.Binary(t, "zdml"), "monitor", "deploy", "--url", promURL, "--api-addr", api,
		"--repo", repo, "--file", "desired.yaml", "--reports-dir", reports, "--timeout", "3m", "--scrape-interval", "1s").CombinedOutput()
	if err != nil {
		t.Fatalf("zdml monitor deploy: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(reports, "*-deploy-monitored.md"))
	if len(files) != 1 {
		t.Fatalf("reports: %v, want one *-deploy-monitored.md\n%s", files, out)
	}
	report, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s:\n%s", filepath.Base(files[0]), report)
	return string(report)
}

func hasLabel(m model.Matrix, name, value string) bool {
	for _, s := range m {
		if string(s.Metric[model.LabelName(name)]) == value {
			return true
		}
	}
	return false
}

// checkReport asserts what the monitored deploy's report must say about a
// clean blue v1 → green v2 deploy under load.
func checkReport(t *testing.T, report string) {
	t.Helper()
	for _, want := range []string{
		"v1 → v2, **succeeded**",
		"| active color | blue (v1) → green (v2) |",
		"| target up | blue | 1 | 0 |",
		"| target up | green | 0 | 1 |",
		"| model version | green | — | v2 |",
		"| deployed version | — | v1 | v2 |",
		"| 5xx responses | blue | 0 |",
		"| 5xx responses | green | 0 |",
		"| deploys finished | succeeded | 1 |",
		"| deploys finished | rolled_back | 0 |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The old color may have had no scrape between the first snapshot and
	// its stop (the tiny model deploys in under a second), so only the new
	// one must show requests.
	if !regexp.MustCompile(`\| requests served \| green \| [1-9][0-9]* \|`).MatchString(report) {
		t.Error("green served no request during the deploy")
	}
	if strings.Contains(report, "Queries that failed") {
		t.Error("some snapshot queries failed")
	}
}

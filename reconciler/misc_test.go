package reconciler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zero-downtime-ml/zdml/spec"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func TestSumCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newSumCache()
	hashed := 0
	real := c.hash
	c.hash = func(ctx context.Context, p string) (string, error) { hashed++; return real(ctx, p) }
	a, _ := c.Sum(context.Background(), path)
	b, _ := c.Sum(context.Background(), path)
	if hashed != 1 || a != b {
		t.Errorf("unchanged file hashed %d times, want 1", hashed)
	}
	later := time.Now().Add(time.Second)
	if err := os.WriteFile(path, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, later, later)
	cc, _ := c.Sum(context.Background(), path)
	if hashed != 2 || cc == a {
		t.Errorf("rewritten file: hashed %d times, sum changed %v", hashed, cc != a)
	}
}

func TestConfigHash(t *testing.T) {
	base := spec.Spec{Model: spec.Model{Name: "tiny", Version: "v1", Path: "tiny.gguf"},
		Strategy: spec.Strategy{Type: spec.StrategyBlueGreen}, Resources: spec.Resources{Threads: 1}, Runtime: spec.RuntimeProcess}
	tests := []struct {
		name    string
		edit    func(*spec.Spec)
		restart bool
	}{
		{"drain timeout", func(s *spec.Spec) { s.Strategy.DrainTimeout.Duration = time.Minute }, false},
		{"strategy", func(s *spec.Spec) { s.Strategy.Type = spec.StrategyPrewarm }, false},
		{"warm-up prompts", func(s *spec.Spec) { s.Warmup.Prompts = []string{"hi"} }, false},
		{"image under runtime process", func(s *spec.Spec) { s.Image = "x" }, false},
		{"version", func(s *spec.Spec) { s.Model.Version = "v2" }, true},
		{"model file", func(s *spec.Spec) { s.Model.Path = "demo-v1.gguf" }, true},
		{"threads", func(s *spec.Spec) { s.Resources.Threads = 2 }, true},
		{"runtime", func(s *spec.Spec) { s.Runtime = spec.RuntimeDocker; s.Image = "x" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.edit(&s)
			if got := configHash(s) != configHash(base); got != tt.restart {
				t.Errorf("changing %s: restart %v, want %v", tt.name, got, tt.restart)
			}
		})
	}
}

// TestMetricNames: the reconciler's metrics are exactly those of
// docs/architecture.md's "Reconciler" table, which the monitoring reads.
func TestMetricNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.setActive(spec.Blue)
	m.setSync(SyncSynced)
	m.setVersions("v2", "v1", "c2", "c1")
	m.deployDuration.WithLabelValues("bluegreen").Observe(1)
	m.stepDuration.WithLabelValues(StepSwap).Observe(0.1)
	m.lastDeploy.WithLabelValues(OutcomeSucceeded).Set(1)
	m.selfHeals.WithLabelValues(HealNginxDown).Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		got = append(got, mf.GetName())
	}
	sort.Strings(got)
	want := []string{"zdml_reconciler_active_color", "zdml_reconciler_canary_weight", "zdml_reconciler_canary_windows_total", "zdml_reconciler_deploy_duration_seconds",
		"zdml_reconciler_deploy_retries_total", "zdml_reconciler_deploys_total",
		"zdml_reconciler_last_deploy_timestamp_seconds", "zdml_reconciler_last_drain_inflight", "zdml_reconciler_last_drain_left_inflight",
		"zdml_reconciler_last_drain_seconds", "zdml_reconciler_retry_next_attempt_timestamp_seconds",
		"zdml_reconciler_self_heals_total", "zdml_reconciler_step_duration_seconds", "zdml_reconciler_sync_state",
		"zdml_reconciler_version_info"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("metrics\n got %v\nwant %v", got, want)
	}
	doc, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range want {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("%s is not in docs/architecture.md", name)
		}
	}
}

// metricValue reads one series of a gathered counter or gauge: the one
// whose labels include every label of want (name=value pairs).
func metricValue(t testing.TB, reg *prometheus.Registry, name string, want ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(want); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == want[i] && l.GetValue() == want[i+1])
				}
				if !found {
					continue series
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, want)
	return 0
}

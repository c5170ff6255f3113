package loadgen

import (
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

func TestSeriesPlan(t *testing.T) {
	v := func(version string) spec.Model { return spec.Model{Name: "tiny", Version: version, Path: "tiny.gguf"} }
	broken := &BrokenDeploys{Every: 3, Model: spec.Model{Name: "tiny", Version: "broken", Path: "broken-degenerate.gguf"}}
	tests := []struct {
		name     string
		s        Series
		d        time.Duration
		versions string
		expect   string
		at       string
	}{
		{name: "back to back, alternating", s: Series{At: dur(5 * time.Second), Count: 4, Models: []spec.Model{v("v2"), v("v1")}},
			d: time.Minute, versions: "v2 v1 v2 v1", expect: "ssss", at: "5s 5s 5s 5s"},
		{name: "every 3rd broken, numbered, and the next one leaves what still serves",
			s: Series{Count: 7, Models: []spec.Model{v("v2"), v("v1")}, Broken: broken},
			d: time.Minute, versions: "v2 v1 broken-3 v2 v1 broken-6 v2", expect: "ssrssrs", at: "0s 0s 0s 0s 0s 0s 0s"},
		{name: "as many as fit: 30 minutes, one every 90 s from 60 s",
			s: Series{At: dur(time.Minute), Every: dur(90 * time.Second), Models: []spec.Model{v("v2"), v("v1")}, Broken: broken},
			d: 30 * time.Minute, versions: "v2 v1 broken-3 v2 v1 broken-6 v2 v1 broken-9 v2 v1 broken-12 v2 v1 broken-15 v2 v1 broken-18 v2 v1",
			expect: "ssrssrssrssrssrssrss"},
		{name: "DURATION=5m keeps a rollback",
			s: Series{At: dur(time.Minute), Every: dur(90 * time.Second), Models: []spec.Model{v("v2"), v("v1")}, Broken: broken},
			d: 5 * time.Minute, versions: "v2 v1 broken-3", expect: "ssr", at: "1m0s 2m30s 4m0s"},
		{name: "the stack's version not among the models", s: Series{Count: 3, Models: []spec.Model{v("v3"), v("v4")}},
			d: time.Minute, versions: "v3 v4 v3", expect: "sss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.setDefaults(v("v1"))
			plan := tt.s.Plan(v("v1"), tt.d)
			var versions, expect, at []string
			for _, d := range plan {
				versions = append(versions, d.Model.Version)
				expect = append(expect, map[string]string{ExpectSucceeded: "s", ExpectRolledBack: "r"}[d.Expect])
				at = append(at, d.At.Duration.String())
				if d.Strategy != spec.StrategyBlueGreen || d.Timeout.Duration != DefaultDeployBy {
					t.Errorf("deploy %s: strategy %q timeout %s, want the series' defaults", d.Model.Version, d.Strategy, d.Timeout.Duration)
				}
			}
			if got := strings.Join(versions, " "); got != tt.versions {
				t.Errorf("versions %q, want %q", got, tt.versions)
			}
			if got := strings.Join(expect, ""); got != tt.expect {
				t.Errorf("expected outcomes %q, want %q", got, tt.expect)
			}
			if got := strings.Join(at, " "); tt.at != "" && got != tt.at {
				t.Errorf("commit times %q, want %q", got, tt.at)
			}
		})
	}
}

func dur(d time.Duration) spec.Duration { return spec.Duration{Duration: d} }

func TestSeriesValidation(t *testing.T) {
	const base = "name: s\nstack:\n  model: {version: v1, path: tiny.gguf}\nload:\n  rate: 1/s\n  duration: 60s\n"
	const series = "series:\n  count: 2\n  models: [{version: v2, path: tiny.gguf}]\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"deploy and series", base + series + "deploy:\n  at: 5s\n  model: {version: v2, path: tiny.gguf}\n", "series: set deploy or series, not both"},
		{"no count and no interval", base + "series:\n  models: [{version: v2, path: tiny.gguf}]\n", "series.count: set a count, or every"},
		{"nothing to alternate with", base + "series:\n  count: 2\n  models: [{version: v1, path: tiny.gguf}]\n", "series.models: want versions to alternate between"},
		{"a canary series", base + series + "  strategy: canary\n", `series.strategy: want bluegreen or prewarm, got "canary"`},
		{"broken every 0", base + series + "  broken: {every: 0, model: {version: broken, path: b.gguf}}\n", "series.broken.every: want 1 or more"},
		{"starts after the traffic", base + "series:\n  at: 60s\n  count: 2\n  models: [{version: v2, path: tiny.gguf}]\n", "series.at: 1m0s is not before the end of the traffic"},
		{"deploy threshold on a series", base + series + "thresholds:\n  deploy: outcome == succeeded\n", "a series has many deploys; use deploys"},
		{"deploys threshold without a series", base + "deploy:\n  at: 5s\n  model: {version: v2, path: tiny.gguf}\nthresholds:\n  deploys: count == 2\n", "applies to a series of deploys"},
		{"resources threshold without sampling", base + series + "thresholds:\n  resources: growing == 0\n", "needs sampling"},
		{"sampling too often", base + series + "sampling: {every: 10ms}\n", "sampling.every: want at least 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseScenario("s.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := ParseScenario("s.yaml", []byte(base+series+"sampling: {}\nthresholds:\n  deploys: [count == 2, unexpected == 0]\n  resources: growing == 0\n")); err != nil {
		t.Errorf("a valid series: %v", err)
	}
}

// TestShippedSeriesScenarios: the storm makes 20 deploys back to back and
// needs 1,000 requests in their windows; the soak deploys every 90 s for
// 30 minutes with rollbacks, and keeps a rollback when shortened to 5
// minutes.
func TestShippedSeriesScenarios(t *testing.T) {
	storm, err := LoadScenario("scenarios/storm/deploy-storm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if plan := storm.Series.Plan(storm.Stack.Model, storm.Load.Duration.Duration); len(plan) != 20 || plan[0].Model.Version == plan[1].Model.Version {
		t.Errorf("storm plans %d deploys (%v first two), want 20 alternating", len(plan), plan[:2])
	}
	soak, err := LoadScenario("scenarios/soak/soak.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{30 * time.Minute, 5 * time.Minute} {
		sc := soak.WithDuration(d)
		plan := sc.Series.Plan(sc.Stack.Model, d)
		rollbacks := 0
		for _, p := range plan {
			if p.Expect == ExpectRolledBack {
				rollbacks++
			}
		}
		if rollbacks == 0 || sc.Sampling == nil {
			t.Errorf("soak of %s: %d deploys, %d rollbacks, sampling %v; want at least one rollback, and sampling", d, len(plan), rollbacks, sc.Sampling)
		}
	}
}

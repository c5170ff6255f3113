package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadtestSelectsScenarios(t *testing.T) {
	dir := "../../loadgen/scenarios"
	tests := []struct {
		name, scenarios string
		duration        time.Duration
		want, wantErr   string
	}{
		{name: "all in suite order", want: "baseline,no-traffic-deploy,deploy-under-load,prewarm-fast,rollback-under-load,quality-regression,canary-under-load,canary-regression,deploy-storm-short"},
		{name: "named", scenarios: "prewarm-fast, baseline", want: "prewarm-fast,baseline"},
		{name: "unknown", scenarios: "canary", wantErr: `no scenario "canary" in ../../loadgen/scenarios (have baseline, no-traffic-deploy, deploy-under-load, prewarm-fast, rollback-under-load, quality-regression, canary-under-load, canary-regression, deploy-storm-short)`},
		{name: "duration override", scenarios: "deploy-under-load", duration: 2 * time.Minute, want: "deploy-under-load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := loadtestFlags{scenarios: tt.scenarios, scenariosDir: dir, duration: tt.duration}
			scs, err := f.selectScenarios()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range scs {
				names = append(names, s.Name)
				if tt.duration > 0 && (s.Load.Duration.Duration != tt.duration || s.Deploy.At.Duration != 30*time.Second) {
					t.Errorf("%s: duration %s, deploy at %s; want %s and 30s (15s of 60s scaled)", s.Name, s.Load.Duration.Duration, s.Deploy.At.Duration, tt.duration)
				}
			}
			if got := strings.Join(names, ","); got != tt.want {
				t.Errorf("scenarios %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLoadtestLargeScenarios(t *testing.T) {
	// make loadtest-large runs the large-model scenarios, and only them; the
	// default directory (make loadtest-deploy) never picks them up.
	f := loadtestFlags{scenariosDir: "../../loadgen/scenarios/large", runtime: "process"}
	scs, err := f.selectScenarios()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range scs {
		names = append(names, s.Name)
		if s.Stack.Model.Path != "smollm2-shaped-v1.gguf" || s.Deploy == nil || s.Deploy.Model.Path != "smollm2-shaped-v2.gguf" {
			t.Errorf("%s: deploys %s -> %v, want the SmolLM2-1.7B-shaped v1 -> v2", s.Name, s.Stack.Model.Path, s.Deploy)
		}
	}
	if got, want := strings.Join(names, ","), "deploy-under-load-large,prewarm-fast-large,long-streams-large"; got != want {
		t.Errorf("scenarios %s, want %s", got, want)
	}
	if got, want := f.reproduce(scs[0]), "zdml loadtest --scenario deploy-under-load-large --scenarios-dir ../../loadgen/scenarios/large"; got != want {
		t.Errorf("reproduce = %q, want %q", got, want)
	}
	f = loadtestFlags{scenariosDir: "loadgen/scenarios/", runtime: "process"}
	if got, want := f.reproduce(scs[0]), "zdml loadtest --scenario deploy-under-load-large"; got != want {
		t.Errorf("reproduce from the default directory = %q, want %q", got, want)
	}
}

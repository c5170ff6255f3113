package monitoring

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestRulesPromtoolCheck(t *testing.T) {
	files, err := filepath.Glob("rules/*.yml")
	if err != nil || len(files) != 2 {
		t.Fatalf("rule files: %v %v, want alerts.yml and recording.yml", files, err)
	}
	out, err := promtool(t, ".", append([]string{"check", "rules"}, files...)...)
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if strings.Count(out, "SUCCESS") != len(files) {
		t.Fatalf("promtool check rules:\n%s", out)
	}
}

// TestRulesUnitTests runs rules/tests/*.yml with promtool test rules: each
// alert firing on the series that should fire it, and quiet otherwise.
func TestRulesUnitTests(t *testing.T) {
	tests, err := filepath.Glob("rules/tests/*.yml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule unit tests: %v", err)
	}
	for _, f := range tests {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := promtool(t, filepath.Dir(f), "test", "rules", filepath.Base(f))
			if err != nil {
				t.Fatalf("promtool test rules %s: %v\n%s", f, err, out)
			}
			if !strings.Contains(out, "SUCCESS") {
				t.Fatalf("promtool test rules %s:\n%s", f, out)
			}
		})
	}
}

// TestEveryAlertHasFiringAndQuietCases keeps the unit tests complete: each
// alert in rules/alerts.yml is expected to fire somewhere and to stay
// quiet somewhere.
func TestEveryAlertHasFiringAndQuietCases(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	tests, _ := filepath.Glob("rules/tests/*.yml")
	for _, f := range tests {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string `yaml:"alertname"`
					ExpAlerts []any  `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range doc.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	var alerts int
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		alerts++
		if !fires[r.Alert] {
			t.Errorf("alert %s has no test where it fires", r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("alert %s has no test where it stays quiet", r.Alert)
		}
	}
	// The five, plus failed deploys and an unreachable reconciler.
	for _, want := range []string{"ZdmlHigh5xxRate", "ZdmlHighLatencyP95", "ZdmlActiveColorNotReady",
		"ZdmlDeployRolledBack", "ZdmlReconcilerOutOfSync"} {
		if !fires[want] {
			t.Errorf("required alert %s is missing or untested", want)
		}
	}
	if alerts < 5 {
		t.Errorf("got %d alerts, want at least 5", alerts)
	}
}

func TestWriteRules(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules")
	paths, err := WriteRules(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(paths), len(RuleFiles()); got != want || want != 2 {
		t.Fatalf("wrote %d files, want %d (2)", got, want)
	}
	for _, p := range paths {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("rules", filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from the checked-in rules", p)
		}
	}
	out, err := promtool(t, ".", append([]string{"check", "rules"}, paths...)...)
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

package monitoring

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckedInConfigs keeps monitoring/prometheus.yml (process runtime) and
// monitoring/prometheus.compose.yml (compose stack) equal to what the
// renderer makes, and checks both with promtool; -update rewrites them.
func TestCheckedInConfigs(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		cfg  ScrapeConfig
		want []string
	}{
		{"local", "prometheus.yml", LocalConfig(), []string{`"127.0.0.1:8000"`, `"127.0.0.1:8001"`, `"127.0.0.1:9400"`, `"127.0.0.1:9090"`, "stack: local"}},
		{"compose", "prometheus.compose.yml", ComposeConfig(), []string{`"zdml-blue:8000"`, `"zdml-green:8001"`, `"127.0.0.1:9400"`, "stack: compose"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.cfg.Render(&buf); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(tc.file, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, buf.Bytes()) {
				t.Fatalf("%s is stale: run go test ./monitoring -run TestCheckedInConfigs -update", tc.file)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("%s lacks %s", tc.file, w)
				}
			}
			// rule_files are relative to the config: monitoring/rules/*.yml.
			out, err := promtool(t, ".", "check", "config", tc.file)
			if err != nil {
				t.Fatalf("promtool check config %s: %v\n%s", tc.file, err, out)
			}
			if !strings.Contains(out, "SUCCESS: 2 rule files found") {
				t.Errorf("promtool did not load both rule files:\n%s", out)
			}
		})
	}
}

// TestRenderShortInterval: a 1 s scrape (tests) needs a 1 s timeout, or
// Prometheus refuses the config.
func TestRenderShortInterval(t *testing.T) {
	c := LocalConfig()
	c.ScrapeInterval = time.Second
	c.RuleFiles = nil
	var buf bytes.Buffer
	if err := c.Render(&buf); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"scrape_interval: 1s", "scrape_timeout: 1s"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("config lacks %q:\n%s", w, buf.String())
		}
	}
	if out, err := promtool(t, ".", "check", "config", p); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*ScrapeConfig)
		want string
	}{
		{"local is valid", func(*ScrapeConfig) {}, ""},
		{"compose is valid", func(c *ScrapeConfig) { *c = ComposeConfig() }, ""},
		{"blue without port", func(c *ScrapeConfig) { c.Blue = "127.0.0.1" }, `blue address "127.0.0.1"`},
		{"empty reconciler", func(c *ScrapeConfig) { c.Reconciler = "" }, "reconciler address"},
		{"sub-second interval", func(c *ScrapeConfig) { c.ScrapeInterval = 500 * time.Millisecond }, "want whole seconds"},
		{"fractional interval", func(c *ScrapeConfig) { c.ScrapeInterval = 1500 * time.Millisecond }, "want whole seconds"},
		{"no stack", func(c *ScrapeConfig) { c.Stack = "" }, "stack label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := LocalConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if err := c.Render(&bytes.Buffer{}); err == nil {
				t.Fatal("Render accepted an invalid config")
			}
		})
	}
}

func TestPromDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{{time.Second, "1s"}, {5 * time.Second, "5s"}, {90 * time.Second, "90s"}, {time.Minute, "1m"}, {24 * time.Hour, "1440m"}} {
		if got := promDuration(tc.in); got != tc.want {
			t.Errorf("promDuration(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

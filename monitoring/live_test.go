package monitoring

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// startModelServer runs the real model server on the tiny model as color
// on addr, stopped (SIGTERM, then kill) in cleanup.
func startModelServer(t *testing.T, color, addr string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(testenv.Binary(t, "modelserver"), "--model", testenv.Model(t, "tiny.gguf"),
		"--addr", addr, "--color", color, "--db", filepath.Join(dir, "chat.db"), "--threads", "1",
		"--parallel", "2", "--shutdown-timeout", "2s")
	logf, err := os.Create(filepath.Join(dir, "modelserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	waitHTTP(t, "http://"+addr+"/ready", 60*time.Second, done)
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, url string, timeout time.Duration, died <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-died:
			t.Fatalf("%s: the process exited", url)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s not 200 within %s", url, timeout)
}

// sendTraffic posts short chats to addr until ctx ends, plus a 404, so
// every rate, histogram and the error-ratio's zero branch have data.
func sendTraffic(ctx context.Context, addr string) {
	body := []byte(`{"message":"hello there","max_tokens":4}`)
	for i := 0; ctx.Err() == nil; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/chat", bytes.NewReader(body))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if i%5 == 0 {
			if resp, err := http.Get("http://" + addr + "/no-such-route"); err == nil {
				resp.Body.Close()
			}
		}
	}
}

// startPrometheus runs Debian's prometheus on a free loopback port with a
// 1 s scrape against c, stopped in cleanup.
func startPrometheus(t *testing.T, c ScrapeConfig) (*Server, *Client) {
	t.Helper()
	c.ScrapeInterval, c.Stack = time.Second, "test"
	srv := NewServer(t.TempDir(), WithBinary(testenv.LookPath(t, "prometheus", "prometheus")),
		WithListen(testenv.FreeAddr(t)), WithScrape(c), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop prometheus: %v", err)
		}
	})
	client, err := NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return srv, client
}

// waitQuery polls expr until it returns at least one series.
func waitQuery(t *testing.T, c *Client, expr string, timeout time.Duration) model.Vector {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := c.Query(context.Background(), expr, time.Now())
		if err == nil && len(v) > 0 {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s returned nothing within %s (last error %v)", expr, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// grafanaVars are the values Grafana would give the dashboard's variables
// with a 1 s scrape: $__rate_interval is at least four scrapes.
func grafanaVars(color string) map[string]string {
	return map[string]string{"color": color, "__rate_interval": "5s", "__interval": "1s",
		"__range": "10m", "__range_s": "600"}
}

// queryProblems evaluates each query at now and reports one that returns
// nothing, whose series lack a label its legend shows, or whose color is
// not blue or green.
func queryProblems(c *Client, queries []Query, vars map[string]string) []string {
	var out []string
	for _, q := range queries {
		expr := Expand(q.Expr, vars)
		v, err := c.Query(context.Background(), expr, time.Now())
		if err != nil {
			out = append(out, fmt.Sprintf("panel %q %s: %v", q.Panel, q.RefID, err))
			continue
		}
		if len(v) == 0 {
			out = append(out, fmt.Sprintf("panel %q %s returned no data: %s", q.Panel, q.RefID, expr))
			continue
		}
		for _, s := range v {
			for _, l := range q.LegendLabels() {
				if _, ok := s.Metric[model.LabelName(l)]; !ok {
					out = append(out, fmt.Sprintf("panel %q %s: series %s lacks %q, which its legend %q shows", q.Panel, q.RefID, s.Metric, l, q.Legend))
				}
			}
			if col, ok := s.Metric["color"]; ok && col != "blue" && col != "green" {
				out = append(out, fmt.Sprintf("panel %q %s: color %q", q.Panel, q.RefID, col))
			}
		}
	}
	return out
}

func checkQueries(t *testing.T, c *Client, queries []Query, vars map[string]string) {
	t.Helper()
	for _, p := range queryProblems(c, queries, vars) {
		t.Error(p)
	}
}

// byColor maps a vector's color label to its value.
func byColor(v model.Vector) map[string]float64 {
	out := map[string]float64{}
	for _, s := range v {
		out[string(s.Metric["color"])] = float64(s.Value)
	}
	return out
}

// TestLiveModelPanels runs a real model server (blue) under traffic, leaves
// green down, scrapes both with real Prometheus and the real rules, and
// evaluates every model-server query of the dashboard: each must return
// data with the labels its legend shows, and green must show as down.
func TestLiveModelPanels(t *testing.T) {
	blue, green := testenv.FreeAddr(t), testenv.FreeAddr(t)
	startModelServer(t, "blue", blue)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go sendTraffic(ctx, blue)
	_, prom := startPrometheus(t, ScrapeConfig{Blue: blue, Green: green, Reconciler: testenv.FreeAddr(t)})

	// The 1 m recorded quantiles need a request inside the window and two
	// scrapes that saw it; the rates need a few scrapes.
	waitQuery(t, prom, `color:zdml_time_to_first_token_seconds:quantile1m{color="blue",quantile="0.95"} >= 0`, 90*time.Second)
	waitQuery(t, prom, `color:zdml_http_requests:rate1m{color="blue"} > 0`, 30*time.Second)
	time.Sleep(5 * time.Second) // a full $__rate_interval of samples

	d, err := LoadDashboard("grafana/dashboards/zdml.json")
	if err != nil {
		t.Fatal(err)
	}
	var modelQueries []Query
	for _, q := range d.Queries() {
		if !strings.Contains(q.Expr, "zdml_reconciler_") && !strings.Contains(q.Expr, `role!="model"`) {
			modelQueries = append(modelQueries, q)
		}
	}
	if len(modelQueries) < 15 {
		t.Fatalf("only %d model-server queries in the dashboard", len(modelQueries))
	}
	t.Run("all colors", func(t *testing.T) { checkQueries(t, prom, modelQueries, grafanaVars(".*")) })
	t.Run("color=blue", func(t *testing.T) { checkQueries(t, prom, modelQueries, grafanaVars("blue")) })

	t.Run("a panel without data fails", func(t *testing.T) {
		bad := []Query{
			{Panel: "no such metric", RefID: "A", Expr: `sum by (color) (rate(zdml_no_such_total[$__rate_interval]))`},
			{Panel: "legend label missing", RefID: "A", Expr: `sum(up)`, Legend: "{{color}}"},
			{Panel: "syntax", RefID: "A", Expr: `sum(`},
		}
		if got := queryProblems(prom, bad, grafanaVars(".*")); len(got) != len(bad) {
			t.Errorf("got %d problems for %d bad queries: %q", len(got), len(bad), got)
		}
	})
	t.Run("the Prometheus graph page's queries", func(t *testing.T) {
		page := d.GraphURL(prom.URL() + ClassicGraphPath)
		resp, err := http.Get(page) // Debian's prometheus serves the classic UI
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", ClassicGraphPath, resp.Status)
		}
		u, err := url.Parse(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range graphExprs(u) {
			if strings.Contains(e, "zdml_reconciler_") || strings.Contains(e, `role!="model"`) {
				continue
			}
			if v, err := prom.Query(context.Background(), e, time.Now()); err != nil || len(v) == 0 {
				t.Errorf("%s: %d series, %v", e, len(v), err)
			}
		}
	})
	t.Run("which color is up", func(t *testing.T) {
		for _, q := range d.Queries() {
			if q.Panel != "Which color is up" {
				continue
			}
			v, err := prom.Query(context.Background(), Expand(q.Expr, grafanaVars(".*")), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			got := byColor(v)
			if got["blue"] != 1 || got["green"] != 0 || len(got) != 2 {
				t.Errorf("%s %s: got %v, want blue 1 and green 0 (down, expected)", q.Panel, q.RefID, got)
			}
		}
	})
	t.Run("color variable", func(t *testing.T) {
		vals, err := prom.LabelValues(context.Background(), "color", `up{role="model"}`)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(vals, ",") != "blue,green" {
			t.Errorf("label_values(up{role=\"model\"}, color) = %v, want [blue green]", vals)
		}
	})
	t.Run("rules evaluate without errors", func(t *testing.T) {
		health, err := prom.RuleHealth(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for name, h := range health {
			if h != "ok" && !(strings.HasPrefix(name, "Zdml") && h == "unknown") {
				t.Errorf("rule %s: %s", name, h)
			}
		}
	})
	t.Run("targets", func(t *testing.T) { checkTargets(t, prom, map[string]string{"blue": "up", "green": "down"}) })
}

// checkTargets asserts each model color's health and logs the table
// `make prom-targets` prints, scrape durations included.
func checkTargets(t *testing.T, prom *Client, want map[string]string) {
	t.Helper()
	targets, err := prom.Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTargets(&b, targets, time.Now()); err != nil {
		t.Fatal(err)
	}
	t.Logf("targets:\n%s", b.String())
	for _, tg := range targets {
		if tg.Role != "model" {
			continue
		}
		if got := tg.Health; got != want[tg.Color] {
			t.Errorf("target %s (%s): health %s, want %s", tg.URL, tg.Color, got, want[tg.Color])
		}
		if tg.Job != "modelserver" {
			t.Errorf("target %s: job %q", tg.URL, tg.Job)
		}
	}
	if len(targets) != 4 {
		t.Errorf("got %d targets, want 4 (blue, green, reconciler, prometheus)", len(targets))
	}
}

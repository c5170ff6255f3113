package monitoring

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// provisionedDatasource reads the uid of the provisioned Prometheus
// datasource, the one every dashboard reference must resolve to.
func provisionedDatasource(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("grafana/provisioning/datasources/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			UID, Type, URL string
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if f.APIVersion != 1 || len(f.Datasources) != 1 || f.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasource provisioning: got %+v, want apiVersion 1 and one prometheus datasource", f)
	}
	if got := f.Datasources[0].UID; got != DatasourceUID {
		t.Fatalf("provisioned datasource uid %q, want %q", got, DatasourceUID)
	}
	return f.Datasources[0].UID
}

func dashboards(t *testing.T) map[string]*Dashboard {
	t.Helper()
	files, err := filepath.Glob("grafana/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	out := map[string]*Dashboard{}
	for _, f := range files {
		d, err := LoadDashboard(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = d
	}
	return out
}

// TestDashboardStatic loads every dashboard JSON and checks what Grafana
// cannot show without: a query on every panel, datasource references that
// resolve to the provisioned uid, and a unit on every panel.
func TestDashboardStatic(t *testing.T) {
	uid := provisionedDatasource(t)
	for file, d := range dashboards(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if d.UID == "" || d.Title == "" {
				t.Errorf("dashboard uid %q title %q: both must be set", d.UID, d.Title)
			}
			ids := map[int]bool{}
			for _, p := range d.AllPanels() {
				checkPanel(t, p, uid)
				if ids[p.ID] {
					t.Errorf("panel %q: duplicate id %d", p.Title, p.ID)
				}
				ids[p.ID] = true
			}
			for _, a := range d.Annotations.List {
				if a.BuiltIn == 1 {
					continue
				}
				if a.Datasource == nil || a.Datasource.UID != uid || a.Expr == "" {
					t.Errorf("annotation %q: datasource %+v expr %q: want uid %s and an expr", a.Name, a.Datasource, a.Expr, uid)
				}
			}
			for _, v := range d.Templating.List {
				if v.Datasource == nil || v.Datasource.UID != uid {
					t.Errorf("variable %q: datasource %+v, want uid %s", v.Name, v.Datasource, uid)
				}
			}
		})
	}
}

func checkPanel(t *testing.T, p Panel, uid string) {
	t.Helper()
	if p.Datasource == nil || p.Datasource.UID != uid || p.Datasource.Type != "prometheus" {
		t.Errorf("panel %q: datasource %+v, want prometheus uid %s", p.Title, p.Datasource, uid)
	}
	if p.FieldConfig.Defaults.Unit == "" {
		t.Errorf("panel %q: no unit", p.Title)
	}
	if len(p.Targets) == 0 {
		t.Errorf("panel %q: no query", p.Title)
	}
	for _, q := range p.Targets {
		if strings.TrimSpace(q.Expr) == "" || q.RefID == "" {
			t.Errorf("panel %q: query %q has expr %q", p.Title, q.RefID, q.Expr)
		}
		if q.Datasource == nil || q.Datasource.UID != uid {
			t.Errorf("panel %q query %s: datasource %+v, want uid %s", p.Title, q.RefID, q.Datasource, uid)
		}
	}
}

// TestDashboardPanels: the seed's six panels, the deploy panels, time to
// first token and tokens per second, and deploy annotations are there.
func TestDashboardPanels(t *testing.T) {
	d, err := LoadDashboard("grafana/dashboards/zdml.json")
	if err != nil {
		t.Fatal(err)
	}
	titles := map[string]Panel{}
	for _, p := range d.AllPanels() {
		titles[p.Title] = p
	}
	for _, tc := range []struct {
		title, unit, metric string
	}{
		{"Request rate", "reqps", "zdml_http_requests_total"},
		{"Error rate (5xx)", "percentunit", `code=~"5.."`},
		{"Request latency p50 / p95 / p99", "s", "color:zdml_http_request_duration_seconds:quantile1m"},
		{"Inference time p50 / p95", "s", "zdml_inference_duration_seconds_bucket"},
		{"Memory by color", "bytes", "zdml_memory_pss_bytes"},
		{"Which color is up", "none", "zdml_model_ready"},
		{"Time to first token p50 / p95", "s", "zdml_time_to_first_token_seconds"},
		{"Tokens per second", "suffix:tok/s", "zdml_tokens_per_second_bucket"},
		{"Sync state", "none", "zdml_reconciler_sync_state"},
		{"Active color", "none", "zdml_reconciler_active_color"},
		{"Desired and deployed version", "none", "zdml_reconciler_version_info"},
		{"Deploys by outcome", "short", "zdml_reconciler_deploys_total"},
		{"Deploy and step durations", "s", "zdml_reconciler_step_duration_seconds"},
		{"Last drain", "s", "zdml_reconciler_last_drain_seconds"},
		{"In flight at last swap", "short", "zdml_reconciler_last_drain_inflight"},
	} {
		t.Run(tc.title, func(t *testing.T) {
			p, ok := titles[tc.title]
			if !ok {
				t.Fatalf("no panel %q", tc.title)
			}
			if got := p.FieldConfig.Defaults.Unit; got != tc.unit {
				t.Errorf("unit %q, want %q", got, tc.unit)
			}
			var all string
			for _, q := range p.Targets {
				all += q.Expr + "\n"
			}
			if !strings.Contains(all, tc.metric) {
				t.Errorf("queries do not use %s:\n%s", tc.metric, all)
			}
		})
	}
	var deployAnnotation bool
	for _, a := range d.Annotations.List {
		deployAnnotation = deployAnnotation || strings.Contains(a.Expr, "zdml_reconciler_deploys_total")
	}
	if !deployAnnotation {
		t.Error("no deploy annotation from zdml_reconciler_deploys_total")
	}
}

// TestDashboardProvider: the provider loads the folder the compose stack
// mounts the dashboards at (docs/architecture.md, "Monitoring").
func TestDashboardProvider(t *testing.T) {
	data, err := os.ReadFile("grafana/provisioning/dashboards/zdml.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		}
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Providers) != 1 || f.Providers[0].Type != "file" || f.Providers[0].Options.Path != GrafanaDashboardsPath {
		t.Fatalf("providers %+v, want one file provider at %s", f.Providers, GrafanaDashboardsPath)
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"color": "blue", "__rate_interval": "4s", "__range": "5m", "__range_s": "300"}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", `up{color=~"$color"}`, `up{color=~"blue"}`},
		{"braces", `up{color=~"${color}"}`, `up{color=~"blue"}`},
		{"rate interval", `rate(x[$__rate_interval])`, `rate(x[4s])`},
		{"longest first", `x[$__range] / $__range_s`, `x[5m] / 300`},
		{"no variables", `sum(up)`, `sum(up)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Expand(tc.in, vars); got != tc.want {
				t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLegendLabels(t *testing.T) {
	for _, tc := range []struct {
		legend string
		want   []string
	}{
		{"{{color}} p95", []string{"color"}},
		{"{{ color }} {{quantile}}", []string{"color", "quantile"}},
		{"total", nil},
	} {
		got := Query{Legend: tc.legend}.LegendLabels()
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("LegendLabels(%q) = %v, want %v", tc.legend, got, tc.want)
		}
	}
}

func TestGraphURL(t *testing.T) {
	d, err := DefaultDashboard()
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := LoadDashboard("grafana/dashboards/zdml.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Queries()) != len(onDisk.Queries()) {
		t.Fatalf("embedded dashboard has %d queries, the file %d", len(d.Queries()), len(onDisk.Queries()))
	}
	for _, tc := range []struct {
		name   string
		panels []string
		want   int
	}{
		{"two panels", []string{"Request rate", "Request latency p50 / p95 / p99"}, 5},
		{"all panels", nil, len(d.Queries()) - len(d.Annotations.List) + 1}, // the built-in annotation has no query
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(d.GraphURL("http://127.0.0.1:9090"+ClassicGraphPath, tc.panels...))
			if err != nil {
				t.Fatal(err)
			}
			exprs := graphExprs(u)
			if u.Path != ClassicGraphPath || len(exprs) != tc.want {
				t.Fatalf("path %s, %d graphs, want %s and %d", u.Path, len(exprs), ClassicGraphPath, tc.want)
			}
			for _, e := range exprs {
				if strings.Contains(e, "$") {
					t.Errorf("unexpanded variable in %s", e)
				}
			}
		})
	}
}

// graphExprs lists the g<n>.expr values of a Prometheus /graph URL.
func graphExprs(u *url.URL) []string {
	var out []string
	for k, v := range u.Query() {
		if strings.HasPrefix(k, "g") && strings.HasSuffix(k, ".expr") {
			out = append(out, v...)
		}
	}
	return out
}

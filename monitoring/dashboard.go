package monitoring

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// DatasourceUID is the uid of the provisioned Prometheus datasource
// (grafana/provisioning/datasources/prometheus.yml); every panel and query
// of the dashboards refers to it.
const DatasourceUID = "zdml-prometheus"

// Dashboard is the part of a Grafana dashboard JSON that tooling checks:
// panels (rows may nest collapsed panels), their queries and units, the
// template variables and the annotation queries.
type Dashboard struct {
	UID         string  `json:"uid"`
	Title       string  `json:"title"`
	Panels      []Panel `json:"panels"`
	Annotations struct {
		List []Annotation `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// DatasourceRef points a panel or a query at a datasource.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is one dashboard panel; a row holds its collapsed panels.
type Panel struct {
	ID          int            `json:"id"`
	Title       string         `json:"title"`
	Type        string         `json:"type"`
	Datasource  *DatasourceRef `json:"datasource"`
	Targets     []PanelTarget  `json:"targets"`
	Panels      []Panel        `json:"panels"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

// PanelTarget is one PromQL query of a panel.
type PanelTarget struct {
	RefID        string         `json:"refId"`
	Expr         string         `json:"expr"`
	LegendFormat string         `json:"legendFormat"`
	Instant      bool           `json:"instant"`
	Datasource   *DatasourceRef `json:"datasource"`
}

// Annotation is an annotation query; Grafana's built-in one has no expr.
type Annotation struct {
	Name        string         `json:"name"`
	Expr        string         `json:"expr"`
	TitleFormat string         `json:"titleFormat"`
	Datasource  *DatasourceRef `json:"datasource"`
	BuiltIn     int            `json:"builtIn"`
}

// Variable is a template variable such as $color.
type Variable struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Query      any            `json:"query"` // a string, or an object in newer Grafana
	Definition string         `json:"definition"`
	AllValue   string         `json:"allValue"`
	Datasource *DatasourceRef `json:"datasource"`
}

// LoadDashboard reads a dashboard JSON file.
func LoadDashboard(path string) (*Dashboard, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	defer f.Close()
	d, err := DecodeDashboard(f)
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", path, err)
	}
	return d, nil
}

// DecodeDashboard decodes dashboard JSON.
func DecodeDashboard(r io.Reader) (*Dashboard, error) {
	var d Dashboard
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, err
	}
	return &d, nil
}

// AllPanels lists every panel that is not a row, rows' nested panels
// included, in dashboard order.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// Query is one PromQL expression of the dashboard and where it came from.
type Query struct {
	Panel   string // panel title, or "annotation: <name>"
	RefID   string
	Expr    string
	Legend  string
	Instant bool
}

// Queries lists every panel query and every annotation query.
func (d *Dashboard) Queries() []Query {
	var out []Query
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			out = append(out, Query{Panel: p.Title, RefID: t.RefID, Expr: t.Expr, Legend: t.LegendFormat, Instant: t.Instant})
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out = append(out, Query{Panel: "annotation: " + a.Name, Expr: a.Expr, Legend: a.TitleFormat})
		}
	}
	return out
}

var legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// LegendLabels are the labels a legend format names ({{color}} → color):
// a series without them would show an empty legend.
func (q Query) LegendLabels() []string {
	var out []string
	for _, m := range legendLabel.FindAllStringSubmatch(q.Legend, -1) {
		out = append(out, m[1])
	}
	return out
}

// Expand substitutes Grafana variables in expr: vars maps a name without
// the $ (color, __rate_interval) to its value. Both $name and ${name} are
// replaced, longest names first so $__range does not eat $__range_s.
func Expand(expr string, vars map[string]string) string {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		expr = strings.ReplaceAll(expr, "${"+n+"}", vars[n])
		expr = strings.ReplaceAll(expr, "$"+n, vars[n])
	}
	return expr
}

// Paths inside the Grafana container where the compose stack mounts
// monitoring/grafana/provisioning and monitoring/grafana/dashboards.
const (
	GrafanaProvisioningPath = "/etc/grafana/provisioning"
	GrafanaDashboardsPath   = "/var/lib/grafana/dashboards/zdml"
)

//go:embed grafana/dashboards/zdml.json
var dashboardJSON []byte

// DefaultDashboard is the provisioned dashboard, grafana/dashboards/zdml.json.
func DefaultDashboard() (*Dashboard, error) {
	return DecodeDashboard(bytes.NewReader(dashboardJSON))
}

// PrometheusVars are the dashboard variables as Prometheus's own UI needs
// them: all colors, four 5 s scrapes per rate, the dashboard's 30 minutes.
var PrometheusVars = map[string]string{"color": ".*", "__rate_interval": "20s", "__interval": "5s",
	"__range": "30m", "__range_s": "1800"}

// Prometheus graph pages: Debian's prometheus (make monitor) serves the
// classic UI, upstream images the React one; both read g<n>.expr.
const (
	ClassicGraphPath = "/classic/graph"
	GraphPath        = "/graph"
)

// GraphURL is one Prometheus graph page (page is its URL, e.g.
// http://127.0.0.1:9090/classic/graph) that plots every query of the named
// panels (all panels when none are named), so the dashboard can be read
// without Grafana.
func (d *Dashboard) GraphURL(page string, panels ...string) string {
	want := map[string]bool{}
	for _, p := range panels {
		want[p] = true
	}
	v := url.Values{}
	n := 0
	for _, q := range d.Queries() {
		if strings.HasPrefix(q.Panel, "annotation: ") || (len(want) > 0 && !want[q.Panel]) {
			continue
		}
		g := "g" + strconv.Itoa(n) + "."
		v.Set(g+"expr", Expand(q.Expr, PrometheusVars))
		v.Set(g+"tab", "0")
		v.Set(g+"range_input", "30m")
		n++
	}
	return page + "?" + v.Encode()
}

package reconciler

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/modelserver/modelclient"
	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Viewer observes a state directory without its lock and without acting:
// `zdml status`, `which-active`, `mem` and `health` while no daemon runs
// (or beside one).
type Viewer struct {
	r *Reconciler
}

// NewViewer returns a read-only view of cfg's state directory.
func NewViewer(cfg Config) (*Viewer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	cfg.StateDir = dir
	st, err := LoadState(dir)
	if err != nil {
		return nil, err
	}
	runner := cfg.NginxRunner
	if runner == nil {
		if runner, err = nginx.NewLocal(filepath.Join(dir, "nginx")); err != nil {
			return nil, err
		}
	}
	r := &Reconciler{cfg: cfg, log: cfg.Log, state: st, proxy: nginx.NewProxy(runner), client: modelclient.New(),
		sums: newSumCache(), metrics: newMetrics(nil), drivers: map[string]driver.Driver{}}
	return &Viewer{r: r}, nil
}

// Status observes nginx and the colors and reads the desired state.
func (v *Viewer) Status(ctx context.Context) StatusReport {
	o := v.r.observe(ctx)
	rep := v.r.report(o)
	if src := v.r.cfg.Source; src != nil {
		if d, err := src.Read(ctx); err != nil {
			rep.DesiredError = err.Error()
		} else if d.Err != nil {
			rep.DesiredCommit, rep.DesiredError = d.Commit, d.Err.Error()
		} else {
			want := revisionOf(d)
			rep.DesiredVersion, rep.DesiredCommit, rep.DesiredSpec = want.Version, want.Commit, want.SpecHash
			rep.Prewarm = v.r.prewarmReport(o, &want)
			rep.Quarantine = nil
			if q, ok := v.r.state.Quarantined(want.SpecHash, ""); ok {
				rep.Quarantine = &q
				rep.SyncState = SyncQuarantined
			}
		}
	}
	return rep
}

// Active returns the color nginx (or runtime kubernetes's stable
// Service) routes to.
func (v *Viewer) Active(ctx context.Context) (spec.Color, error) {
	if _, ok := v.r.router().(*nginxRouter); ok {
		return v.r.proxy.Active(ctx)
	}
	o, err := v.r.router().observe(ctx)
	return o.Active, err
}

// MemRow is one process group in `zdml mem`.
type MemRow struct {
	Name    string          `json:"name"` // blue, green, nginx
	Version string          `json:"version,omitempty"`
	Usage   procfs.MemUsage `json:"usage"`
	Procs   int             `json:"processes"`
}

// Memory measures the colors and nginx from /proc (smaps_rollup): RSS,
// PSS and shared pages, so the page sharing of one model file mapped by
// both colors shows.
func (v *Viewer) Memory(ctx context.Context) ([]MemRow, error) {
	o := v.r.observe(ctx)
	var rows []MemRow
	for _, c := range spec.Colors {
		st := o.colors[c]
		if !st.Running {
			continue
		}
		pid, err := strconv.Atoi(st.ID)
		if err != nil { // a container: ask the server itself
			d, derr := v.r.clientFor(c).Deep(ctx, st.Addr)
			if derr != nil {
				continue
			}
			rows = append(rows, MemRow{Name: string(c), Version: st.ModelVersion, Procs: 1, Usage: procfs.MemUsage{Rss: d.RSSBytes, Pss: d.PSSBytes}})
			continue
		}
		u, err := procfs.Memory(pid)
		if err != nil {
			return rows, err
		}
		rows = append(rows, MemRow{Name: string(c), Version: st.ModelVersion, Usage: u, Procs: 1})
	}
	if o.route.Running && o.route.PID > 0 {
		row := MemRow{Name: "nginx"}
		if u, err := procfs.Memory(o.route.PID); err == nil {
			row.Usage, row.Procs = u, 1
		}
		if ws, err := v.r.proxy.Runner().Workers(ctx); err == nil {
			for _, w := range ws {
				if u, err := procfs.Memory(w.PID); err == nil {
					row.Usage, row.Procs = row.Usage.Add(u), row.Procs+1
				}
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// Health is one component's health in `zdml health`.
type Health struct {
	Name   string                  `json:"name"`
	OK     bool                    `json:"ok"`
	Detail string                  `json:"detail"`
	Deep   *modelclient.DeepHealth `json:"deep,omitempty"`
}

// Health checks each running color (/ready, /health/deep), nginx and the
// public route.
func (v *Viewer) Health(ctx context.Context) []Health {
	o := v.r.observe(ctx)
	var out []Health
	for _, c := range spec.Colors {
		st := o.colors[c]
		if !st.Running {
			// A stopped standby is the normal state between deploys.
			out = append(out, Health{Name: string(c), OK: c != o.active, Detail: strings.TrimSpace("not running " + st.ExitErr)})
			continue
		}
		h := Health{Name: string(c)}
		client := v.r.clientFor(c)
		if d, err := client.Deep(ctx, st.Addr); err == nil {
			h.Deep = &d
		}
		if served, err := client.Ready(ctx, st.Addr); err != nil {
			h.Detail = err.Error()
		} else {
			h.OK, h.Detail = true, fmt.Sprintf("ready: %s %s on %s", served.Color, served.Version, st.Addr)
		}
		out = append(out, h)
	}
	rt := v.r.router()
	n := Health{Name: rt.name(), OK: o.route.Running && o.routeErr == nil}
	n.Detail = fmt.Sprintf("running=%v active=%s config=%s", o.route.Running, o.route.Active, o.route.Hash)
	if o.routeErr != nil {
		n.Detail += " error: " + o.routeErr.Error()
	}
	out = append(out, n)
	p := Health{Name: "public " + v.r.cfg.PublicAddr}
	publicRoute := v.r.proxy.Route
	if kr, ok := rt.(*kubeRouter); ok {
		p.Name, publicRoute = "public "+kr.name(), kr.k.Router().Route
	}
	if served, err := publicRoute(ctx); err != nil {
		p.Detail = err.Error()
	} else {
		p.OK, p.Detail = true, fmt.Sprintf("routes to %s %s", served.Color, served.Version)
	}
	return append(out, p)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/monitoring"
)

func init() {
	register("monitor", "Prometheus for the stack: run (make monitor), targets, deploy (snapshots around a deploy), grafana", runMonitor)
}

const monitorUsage = `usage: zdml monitor <command> [flags]

commands:
  run       run Prometheus (Debian's package) on 127.0.0.1:9090 against the local stack until Ctrl-C;
            data, config and log under <state-dir>/prometheus
  targets   list Prometheus's scrape targets and their health
  deploy    snapshot the metrics, commit desired.yaml, wait for the reconciler's deploy,
            snapshot again and write reports/<date>-deploy-monitored.md
  grafana   print how to reach the compose stack's Grafana and whether it answers

Run 'zdml monitor <command> -h' for its flags.`

func runMonitor(ctx context.Context, log *slog.Logger, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(os.Stderr, monitorUsage)
		return nil
	}
	sub := map[string]func(context.Context, *slog.Logger, []string) error{
		"run": monitorRun, "targets": monitorTargets, "deploy": monitorDeploy, "grafana": monitorGrafana,
	}[args[0]]
	if sub == nil {
		fmt.Fprintln(os.Stderr, monitorUsage)
		return fmt.Errorf("unknown monitor command %q", args[0])
	}
	return sub(ctx, log.With("sub", args[0]), args[1:])
}

// promFlags are the flags of a Prometheus that zdml runs itself.
type promFlags struct {
	listen, stateDir, bin, blue, green, reconciler string
	interval, retention                            time.Duration
}

func (p *promFlags) bind(fs *flag.FlagSet, errs *[]error) {
	fs.StringVar(&p.listen, "listen", envOr("ZDML_PROMETHEUS_ADDR", monitoring.DefaultListenAddr), "Prometheus listen address (env ZDML_PROMETHEUS_ADDR)")
	fs.StringVar(&p.stateDir, "state-dir", envOr("ZDML_STATE_DIR", ".zdml"), "state directory; Prometheus keeps its files in <dir>/prometheus (env ZDML_STATE_DIR)")
	fs.StringVar(&p.bin, "prometheus", envOr("ZDML_PROMETHEUS", "prometheus"), "prometheus binary (env ZDML_PROMETHEUS)")
	fs.StringVar(&p.blue, "blue-addr", envOr("ZDML_BLUE_ADDR", monitoring.DefaultBlueAddr), "blue model server to scrape (env ZDML_BLUE_ADDR)")
	fs.StringVar(&p.green, "green-addr", envOr("ZDML_GREEN_ADDR", monitoring.DefaultGreenAddr), "green model server to scrape (env ZDML_GREEN_ADDR)")
	fs.StringVar(&p.reconciler, "api-addr", envOr("ZDML_API_ADDR", monitoring.DefaultReconcilerAddr), "reconciler API to scrape (env ZDML_API_ADDR)")
	fs.DurationVar(&p.interval, "scrape-interval", envDuration("ZDML_SCRAPE_INTERVAL", monitoring.DefaultScrapeInterval, errs), "scrape and rule evaluation interval (env ZDML_SCRAPE_INTERVAL)")
	fs.DurationVar(&p.retention, "retention", envDuration("ZDML_PROMETHEUS_RETENTION", 24*time.Hour, errs), "how long samples are kept (env ZDML_PROMETHEUS_RETENTION)")
}

func (p *promFlags) server(log *slog.Logger) *monitoring.Server {
	c := monitoring.LocalConfig()
	c.Blue, c.Green, c.Reconciler, c.ScrapeInterval = p.blue, p.green, p.reconciler, p.interval
	return monitoring.NewServer(filepath.Join(p.stateDir, "prometheus"), monitoring.WithBinary(p.bin),
		monitoring.WithListen(p.listen), monitoring.WithScrape(c), monitoring.WithRetention(p.retention), monitoring.WithLogger(log))
}

func parse(fs *flag.FlagSet, args []string, errs []error) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// monitorRun runs Prometheus in the foreground until ctx ends (Ctrl-C),
// then stops it cleanly.
func monitorRun(ctx context.Context, log *slog.Logger, args []string) error {
	var p promFlags
	var errs []error
	fs := flag.NewFlagSet("monitor run", flag.ContinueOnError)
	p.bind(fs, &errs)
	if err := parse(fs, args, errs); err != nil {
		return err
	}
	srv := p.server(log)
	if err := srv.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("prometheus: %s (targets: %s/targets, alerts: %s/alerts)\n", srv.URL(), srv.URL(), srv.URL())
	fmt.Printf("config %s, log %s; Ctrl-C stops it\n", srv.ConfigPath(), srv.LogPath())
	select {
	case <-ctx.Done():
	case <-srv.Done():
		return fmt.Errorf("prometheus exited on its own; see %s", srv.LogPath())
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return srv.Stop(stopCtx)
}

func promURLFlag(fs *flag.FlagSet) *string {
	return fs.String("url", envOr("ZDML_PROMETHEUS_URL", "http://"+monitoring.DefaultListenAddr), "Prometheus base URL (env ZDML_PROMETHEUS_URL)")
}

// monitorTargets prints the scrape targets and their health.
func monitorTargets(ctx context.Context, _ *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("monitor targets", flag.ContinueOnError)
	url := promURLFlag(fs)
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	c, err := monitoring.NewClient(*url)
	if err != nil {
		return err
	}
	targets, err := c.Targets(ctx)
	if err != nil {
		return fmt.Errorf("%w (is Prometheus running? make monitor)", err)
	}
	return monitoring.WriteTargets(os.Stdout, targets, time.Now())
}

// monitorGrafana says where the compose stack's Grafana is and whether it
// answers. Grafana has no Debian package, so it runs only in compose.
func monitorGrafana(ctx context.Context, _ *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("monitor grafana", flag.ContinueOnError)
	url := fs.String("url", envOr("ZDML_GRAFANA_URL", "http://127.0.0.1:3000"), "Grafana base URL (env ZDML_GRAFANA_URL)")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	return writeGrafana(ctx, os.Stdout, *url)
}

func writeGrafana(ctx context.Context, w io.Writer, url string) error {
	url = strings.TrimRight(url, "/")
	fmt.Fprintf(w, "Grafana (compose stack): %s\ndashboard: %s/d/zdml-overview\n", url, url)
	version, err := grafanaHealth(ctx, url)
	if err == nil {
		fmt.Fprintf(w, "status: answering (Grafana %s)\n", version)
		return nil
	}
	fmt.Fprintf(w, "status: not answering (%v)\n\n", err)
	fmt.Fprintf(w, `Grafana is not packaged for Debian: it runs only in the Docker compose stack, which
mounts monitoring/grafana/provisioning and monitoring/grafana/dashboards into it.
Without Docker, run Prometheus alone and use its UI:
  make monitor                       # Prometheus on http://%s
  open http://%s/classic/graph       # queries; /classic/alerts for the alert rules
On a remote machine, forward the port first: ssh -L 3000:127.0.0.1:3000 HOST
To use another Grafana, import monitoring/grafana/dashboards/zdml.json and name its
Prometheus datasource uid %q.
`, monitoring.DefaultListenAddr, monitoring.DefaultListenAddr, monitoring.DatasourceUID)
	d, err := monitoring.DefaultDashboard()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nThe dashboard's serving panels as one page of Prometheus's UI (with make monitor running):\n  %s\n",
		d.GraphURL("http://"+monitoring.DefaultListenAddr+monitoring.ClassicGraphPath, seedPanels...))
	return nil
}

// seedPanels are the seed's six panels plus time to first token and
// tokens per second: what an operator watches through a deploy.
var seedPanels = []string{"Request rate", "Error rate (5xx)", "Request latency p50 / p95 / p99", "Inference time p50 / p95",
	"Memory by color", "Which color is up", "Time to first token p50 / p95", "Tokens per second"}

func grafanaHealth(ctx context.Context, url string) (string, error) {
	resp, b, err := httpGet(ctx, url+"/api/health", 3*time.Second, 1<<20)
	if err != nil {
		return "", err
	}
	var h struct{ Database, Version string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &h) != nil {
		return "", fmt.Errorf("GET /api/health: %s", resp.Status)
	}
	return h.Version, nil
}

// monitorDeploy takes metric snapshots around one deploy and writes them to
// reports/. With no Prometheus answering at --url it runs one under the
// state directory for the duration.
func monitorDeploy(ctx context.Context, log *slog.Logger, args []string) error {
	var p promFlags
	var errs []error
	fs := flag.NewFlagSet("monitor deploy", flag.ContinueOnError)
	p.bind(fs, &errs)
	url := promURLFlag(fs)
	repo := fs.String("repo", envOr("ZDML_REPO", "."), "git repository the reconciler watches (env ZDML_REPO)")
	branch := fs.String("branch", envOr("ZDML_BRANCH", "main"), "branch the reconciler deploys from (env ZDML_BRANCH)")
	file := fs.String("file", envOr("ZDML_FILE", "desired.yaml"), "desired.yaml inside --repo (env ZDML_FILE)")
	noCommit := fs.Bool("no-commit", false, "commit nothing; wait for a deploy started another way (make loadtest-deploy, zdml deploy)")
	timeout := fs.Duration("timeout", 15*time.Minute, "how long the deploy may take")
	reports := fs.String("reports-dir", envOr("ZDML_REPORTS_DIR", "reports"), "where the report goes (env ZDML_REPORTS_DIR)")
	if err := parse(fs, args, errs); err != nil {
		return err
	}
	prom, stop, err := ensurePrometheus(ctx, log, &p, *url)
	if err != nil {
		return err
	}
	defer stop()
	w := monitoring.DeployWatch{Prometheus: prom, Status: monitoring.APIStatus(p.reconciler), Timeout: *timeout,
		Settle: 2*p.interval + time.Second, Log: log}
	if !*noCommit {
		w.Trigger = monitoring.CommitTrigger(*repo, *branch, *file, "deploy "+*file+" (zdml monitor deploy)")
	}
	if _, err := monitoring.FetchStatus(ctx, p.reconciler); err != nil {
		// compose keeps the reconciler API inside nginx's network namespace
		fmt.Printf("reconciler API %s: %v; following its metrics in Prometheus instead\n", p.reconciler, err)
		w.Status = monitoring.MetricsStatus(prom)
	}
	fmt.Printf("watching the reconciler with Prometheus %s\n", prom.URL())
	r, err := w.Run(ctx)
	if err != nil {
		return err
	}
	out := monitoring.ReportPath(*reports, r.Ended)
	if err := r.WriteFile(out); err != nil {
		return err
	}
	if err := r.WriteMarkdown(os.Stdout); err != nil {
		return err
	}
	fmt.Printf("\nreport: %s\n", out)
	return nil
}

// ensurePrometheus returns a client for the Prometheus at url, or starts
// one (make monitor's) and waits two scrapes so rates exist before the
// first snapshot. stop stops a Prometheus started here.
func ensurePrometheus(ctx context.Context, log *slog.Logger, p *promFlags, url string) (*monitoring.Client, func(), error) {
	if err := httpReady(ctx, url+"/-/ready"); err == nil {
		c, err := monitoring.NewClient(url)
		return c, func() {}, err
	}
	srv := p.server(log)
	fmt.Printf("no Prometheus at %s: starting one on %s for this deploy\n", url, srv.URL())
	if err := srv.Start(ctx); err != nil {
		return nil, nil, err
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := srv.Stop(sctx); err != nil {
			log.Warn("stop prometheus", "err", err)
		}
	}
	c, err := monitoring.NewClient(srv.URL())
	if err == nil {
		select {
		case <-time.After(3*p.interval + time.Second):
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	return c, stop, nil
}

// httpReady GETs a health URL and wants 200.
func httpReady(ctx context.Context, url string) error {
	resp, _, err := httpGet(ctx, url, 2*time.Second, 0)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
	"github.com/zero-downtime-ml/zdml/spec"
)

// The flags and environment variables the subcommands share: the state
// directory's (stateFlags, parseFlags) and the ZDML_* fallbacks.

// stateFlags are the flags every state-directory command shares, each
// with a ZDML_* environment fallback. A malformed value is an error.
type stateFlags struct {
	stateDir, modelsDir, repo, branch, file string
	publicAddr, adminAddr, apiAddr          string
	blueAddr, greenAddr, modelserver        string
	nginxRuntime, runtime, prometheusURL    string
	resync, poll                            time.Duration
	envErrs                                 []error
}

func (f *stateFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.stateDir, "state-dir", envOr("ZDML_STATE_DIR", ".zdml"), "state directory (env ZDML_STATE_DIR)")
	fs.StringVar(&f.modelsDir, "models-dir", envOr("ZDML_MODELS_DIR", "models"), "models directory (env ZDML_MODELS_DIR)")
	fs.StringVar(&f.repo, "repo", envOr("ZDML_REPO", ""), "GitOps: git repository to watch (env ZDML_REPO); empty for file mode")
	fs.StringVar(&f.branch, "branch", envOr("ZDML_BRANCH", "main"), "GitOps: branch (env ZDML_BRANCH)")
	fs.StringVar(&f.file, "file", envOr("ZDML_FILE", "desired.yaml"), "desired.yaml: a path, or a path inside --repo (env ZDML_FILE)")
	fs.StringVar(&f.publicAddr, "public-addr", envOr("ZDML_PUBLIC_ADDR", "127.0.0.1:8080"), "nginx public listener (env ZDML_PUBLIC_ADDR)")
	fs.StringVar(&f.adminAddr, "admin-addr", envOr("ZDML_ADMIN_ADDR", "127.0.0.1:8081"), "nginx admin listener, loopback (env ZDML_ADMIN_ADDR)")
	fs.StringVar(&f.apiAddr, "api-addr", envOr("ZDML_API_ADDR", reconciler.DefaultAPIAddr), "reconciler API and /metrics, loopback (env ZDML_API_ADDR)")
	fs.StringVar(&f.blueAddr, "blue-addr", envOr("ZDML_BLUE_ADDR", reconciler.DefaultBlueAddr), "blue model server address (env ZDML_BLUE_ADDR)")
	fs.StringVar(&f.greenAddr, "green-addr", envOr("ZDML_GREEN_ADDR", reconciler.DefaultGreenAddr), "green model server address (env ZDML_GREEN_ADDR)")
	fs.StringVar(&f.runtime, "runtime", envOr("ZDML_RUNTIME", ""), "run every desired state on this runtime (process or docker), whatever spec.runtime says (env ZDML_RUNTIME)")
	fs.StringVar(&f.nginxRuntime, "nginx", envOr("ZDML_NGINX_RUNTIME", reconciler.NginxLocal), "how nginx runs: local (a process), docker (a container) or none (runtime kubernetes only: its stable Service routes) (env ZDML_NGINX_RUNTIME)")
	fs.StringVar(&f.modelserver, "modelserver", envOr("ZDML_MODELSERVER", defaultModelserver()), "model server binary (env ZDML_MODELSERVER)")
	fs.DurationVar(&f.resync, "resync", envDuration("ZDML_RESYNC", reconciler.DefaultResync, &f.envErrs), "how often the daemon re-checks for drift (env ZDML_RESYNC)")
	fs.StringVar(&f.prometheusURL, "prometheus-url", envOr("ZDML_PROMETHEUS_URL", ""), "Prometheus for canary metrics written in PromQL, e.g. http://127.0.0.1:9090 (env ZDML_PROMETHEUS_URL)")
	fs.DurationVar(&f.poll, "poll", envDuration("ZDML_POLL", reconciler.DefaultPoll, &f.envErrs), "fallback re-read of the desired state (env ZDML_POLL)")
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// envDuration reads a positive duration from the environment variable
// name, def when it is unset or empty; a malformed one is appended to errs
// rather than silently defaulted.
func envDuration(name string, def time.Duration, errs *[]error) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a positive duration such as 5s", name, v))
	}
	return d
}

// defaultModelserver is bin/modelserver beside this zdml binary, else
// modelserver on PATH.
func defaultModelserver() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "modelserver")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("modelserver"); err == nil {
		return p
	}
	return "bin/modelserver"
}

// check validates the flag values.
func (f *stateFlags) check() error {
	errs := append([]error(nil), f.envErrs...)
	for name, addr := range map[string]string{"--public-addr": f.publicAddr, "--admin-addr": f.adminAddr,
		"--api-addr": f.apiAddr, "--blue-addr": f.blueAddr, "--green-addr": f.greenAddr} {
		if err := checkAddr(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, addr, err))
		}
	}
	if !loopback(f.apiAddr) {
		errs = append(errs, fmt.Errorf("--api-addr %q: must be a loopback address (the API can deploy and roll back)", f.apiAddr))
	}
	if f.stateDir == "" {
		errs = append(errs, errors.New("--state-dir: empty"))
	}
	if f.resync <= 0 || f.poll <= 0 {
		errs = append(errs, errors.New("--resync and --poll: want positive durations"))
	}
	return errors.Join(errs...)
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return errors.New("bad port")
	}
	if host == "" {
		return errors.New("want host:port")
	}
	return nil
}

func loopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// source builds the desired-state source: git when --repo is set.
func (f *stateFlags) source() (reconciler.Source, error) {
	if f.repo != "" {
		return reconciler.NewGitSource(f.repo, f.branch, f.file, f.poll)
	}
	return reconciler.NewFileSource(f.file, f.poll)
}

// config builds the reconciler config.
func (f *stateFlags) config(log *slog.Logger, command string) (reconciler.Config, error) {
	if err := f.check(); err != nil {
		return reconciler.Config{}, err
	}
	src, err := f.source()
	if err != nil {
		return reconciler.Config{}, err
	}
	if f.runtime != "" {
		if src, err = reconciler.WithRuntime(src, f.runtime, envOr("ZDML_MODELSERVER_IMAGE", "zdml/modelserver:local")); err != nil {
			return reconciler.Config{}, err
		}
	}
	runner, err := reconciler.NewNginxRunner(f.nginxRuntime, f.stateDir, os.Getenv, log.With("component", "nginx"))
	if err != nil {
		return reconciler.Config{}, err
	}
	return reconciler.Config{
		NginxRunner: runner,
		StateDir:    f.stateDir, ModelsDir: f.modelsDir, Source: src,
		PublicAddr: f.publicAddr, AdminAddr: f.adminAddr, APIAddr: f.apiAddr,
		ColorAddrs:  map[spec.Color]string{spec.Blue: f.blueAddr, spec.Green: f.greenAddr},
		Modelserver: f.modelserver, Resync: f.resync, Command: command, Log: log, PrometheusURL: f.prometheusURL,
	}, nil
}

func parseFlags(name, usage string, args []string, bindMore func(*flag.FlagSet)) (*stateFlags, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	f := &stateFlags{}
	f.bind(fs)
	if bindMore != nil {
		bindMore(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: zdml %s\n", usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	return f, fs, nil
}

// noArgs refuses arguments left after the flags.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

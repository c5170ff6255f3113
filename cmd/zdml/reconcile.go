package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/zero-downtime-ml/zdml/reconciler"
)

func init() {
	register("reconcile", "run the reconciler daemon (GitOps: --repo DIR --branch main; file mode: --file PATH)", runReconcile)
}

// runReconcile is the daemon: it holds the state lock, serves the API and
// converges until interrupted. Colors and nginx keep serving after it exits.
func runReconcile(ctx context.Context, log *slog.Logger, args []string) error {
	f, fs, err := parseFlags("reconcile", "reconcile [--repo DIR --branch main] [--file desired.yaml] [flags]", args, nil)
	if err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	cfg, err := f.config(log, "reconcile")
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Registry = reg
	r, err := reconciler.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	ln, err := net.Listen("tcp", f.apiAddr)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	go func() {
		if err := r.ServeAPI(ctx, ln, reg); err != nil {
			log.Error("api", "err", err)
		}
	}()
	log.Info("reconciler started", "source", cfg.Source.String(), "state_dir", r.StateDir(), "api", ln.Addr().String(),
		"public", f.publicAddr, "pid", os.Getpid())
	return r.Run(ctx)
}

// Command modelserver serves one GGUF model over HTTP for one color (blue or
// green): health tiers, the chat API with SQLite history, an
// OpenAI-compatible API and Prometheus metrics. It is the only binary that
// links llama.cpp. Flags are listed by -h; each has a ZDML_<FLAG> fallback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/zero-downtime-ml/zdml/modelserver"
	"github.com/zero-downtime-ml/zdml/modelserver/llm"
)

func main() {
	cfg, err := modelserver.ParseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "modelserver: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).
		With("color", cfg.Color.String())
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := modelserver.Run(ctx, cfg, llm.Load, log); err != nil {
		log.Error("modelserver failed", "err", err)
		os.Exit(1)
	}
}

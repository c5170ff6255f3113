package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler"
)

func init() {
	register("maintenance", "maintenance mode: zdml maintenance on [--message TEXT] [--retry-after 30s] | off (user routes answer 503, health stays up)", runMaintenance)
}

// runMaintenance turns maintenance mode on or off, through the daemon when
// one runs.
func runMaintenance(ctx context.Context, log *slog.Logger, args []string) error {
	var message, sub string
	var retryAfter time.Duration
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:] // zdml maintenance on --message ...: flags follow the word
	}
	f, fs, err := parseFlags("maintenance", "maintenance on|off [--message TEXT] [--retry-after 30s] [flags]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&message, "message", "", "the 503 message user routes answer (default: "+fmt.Sprintf("%q", nginx.DefaultMaintenanceMessage)+")")
		fs.DurationVar(&retryAfter, "retry-after", nginx.DefaultMaintenanceRetryAfter, "the Retry-After header, whole seconds")
	})
	if err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	req := reconciler.Request{Message: message, RetryAfter: retryAfter}
	switch sub {
	case "on":
		req.Action = reconciler.ActionMaintenanceOn
	case "off":
		req.Action = reconciler.ActionMaintenanceOff
	default:
		return errors.New("usage: zdml maintenance on [--message TEXT] [--retry-after 30s] | off")
	}
	msg, err := doAction(ctx, log, f, req)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, msg)
	return nil
}

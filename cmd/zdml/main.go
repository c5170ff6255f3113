// Command zdml is the zero-downtime-ml CLI and reconciler daemon.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one zdml subcommand. Each group of subcommands registers itself
// from its own file with register.
type command struct {
	summary string
	run     func(ctx context.Context, log *slog.Logger, args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(context.Context, *slog.Logger, []string) error) {
	commands[name] = command{summary: summary, run: run}
}

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	slog.SetDefault(log)
	if len(os.Args) < 2 || os.Args[1] == "help" || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "zdml: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, log.With("cmd", os.Args[1]), os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "zdml %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: zdml <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-14s %s\n", n, commands[n].summary)
	}
}

// logLevel reads ZDML_LOG_LEVEL (debug, info, warn, error); info by default.
func logLevel() slog.Level {
	var l slog.Level
	if v := os.Getenv("ZDML_LOG_LEVEL"); v != "" {
		if err := l.UnmarshalText([]byte(v)); err != nil {
			fmt.Fprintf(os.Stderr, "zdml: ZDML_LOG_LEVEL=%q: %v\n", v, err)
			os.Exit(2)
		}
	}
	return l
}

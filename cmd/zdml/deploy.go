package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/zero-downtime-ml/zdml/reconciler"
)

func init() {
	register("deploy", "deploy desired.yaml now (through the daemon when it runs); retries a quarantined spec", actionCmd(reconciler.ActionReconcile))
	register("prewarm", "start and warm the standby with desired.yaml, no swap (no time pressure)", actionCmd(reconciler.ActionPrewarm))
	register("deploy-fast", "swap the prewarmed standby in: swap and drain only", actionCmd(reconciler.ActionPromote))
	register("rollback", "emergency rollback to the previous version; quarantines the current spec", actionCmd(reconciler.ActionRollback))
	register("promote", "promote now: the canary in progress to all traffic (skips its remaining steps), or the prewarmed standby", actionCmd(reconciler.ActionPromote))
	register("abort", "abort the canary in progress: weight 0 at once, the canary drains and stops, its spec is quarantined", actionCmd(reconciler.ActionAbort))
	register("pause", "hold the canary in progress at its weight (the analysis keeps running and can still abort it)", actionCmd(reconciler.ActionPause))
	register("resume", "continue a paused canary (and past a pause: {} step)", actionCmd(reconciler.ActionResume))
}

// actionCmd runs an action through the daemon's API when a daemon holds
// the state, and otherwise takes the lock and runs it here: an emergency
// rollback works while the daemon is down.
func actionCmd(action string) func(context.Context, *slog.Logger, []string) error {
	return func(ctx context.Context, log *slog.Logger, args []string) error {
		f, fs, err := parseFlags(action, action+" [flags]", args, nil)
		if err != nil {
			return err
		}
		if err := noArgs(fs); err != nil {
			return err
		}
		msg, err := doAction(ctx, log, f, reconciler.Request{Action: action})
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stdout, msg)
		return nil
	}
}

func doAction(ctx context.Context, log *slog.Logger, f *stateFlags, req reconciler.Request) (string, error) {
	cfg, err := f.config(log, req.Action)
	if err != nil {
		return "", err
	}
	if msg, err, ok := viaDaemon(ctx, f, req); ok {
		return msg, err
	}
	r, err := reconciler.New(cfg)
	var locked *reconciler.LockedError
	if errors.As(err, &locked) { // a daemon started in between
		if msg, err, ok := viaDaemon(ctx, f, req); ok {
			return msg, err
		}
	}
	if err != nil {
		return "", err
	}
	defer r.Close()
	return r.Act(ctx, req)
}

// viaDaemon sends the action to the daemon holding the state, if one does.
func viaDaemon(ctx context.Context, f *stateFlags, req reconciler.Request) (string, error, bool) {
	h, held, err := reconciler.LockHolder(f.stateDir)
	if err != nil || !held {
		return "", err, err != nil
	}
	if h.APIAddr == "" || h.Command != "reconcile" {
		return "", fmt.Errorf("state is locked by zdml %s (pid %d): wait for it to finish", h.Command, h.PID), true
	}
	fmt.Fprintf(os.Stderr, "zdml: asking the reconciler (pid %d, api %s) to %s\n", h.PID, h.APIAddr, req.Action)
	msg, err := reconciler.NewClient(h.APIAddr).Do(ctx, req)
	return msg, err, true
}

// requireNoDaemon refuses manual controls while a daemon holds the state:
// it would converge right back.
func requireNoDaemon(f *stateFlags) error {
	h, held, err := reconciler.LockHolder(f.stateDir)
	if err != nil {
		return err
	}
	if held {
		return fmt.Errorf("%w (zdml %s, pid %d): commit desired.yaml instead, or stop the daemon first",
			reconciler.ErrDaemonRunning, h.Command, h.PID)
	}
	return nil
}

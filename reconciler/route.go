package reconciler

import (
	"context"
	"slices"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/spec"
)

// routeTo points public traffic at color c, which serves version, and
// checks that it arrives: nginx.Proxy.Ensure renders the config routing to
// c, tests it and reloads (or starts) nginx unless nginx already serves it,
// then Proxy.VerifyRoute checks c and version through the public listener.
// With reload, an nginx that already reports the config's hash is reloaded
// all the same: its running config may be a hand edit that kept the hash
// line, and Ensure has rewritten the file. Swap, rollback, self-heal and
// zdml swap all route through here.
func (r *Reconciler) routeTo(ctx context.Context, c spec.Color, version string, reload bool) (nginx.Outcome, error) {
	outcome, err := r.proxy.Ensure(ctx, r.nginxConfig(c))
	if err != nil {
		return "", err
	}
	if reload && outcome == nginx.Unchanged {
		if err := r.reloadVerified(ctx); err != nil {
			return "", err
		}
	}
	return outcome, r.proxy.VerifyRoute(ctx, c, version)
}

// reloadVerified reloads nginx and waits until its workers were replaced.
func (r *Reconciler) reloadVerified(ctx context.Context) error {
	runner := r.proxy.Runner()
	before, err := runner.Workers(ctx)
	if err != nil {
		return err
	}
	if err := runner.Reload(ctx); err != nil {
		return err
	}
	return poll(ctx, 20*time.Millisecond, 10*time.Second, func(ctx context.Context) (bool, string, error) {
		ws, err := runner.Workers(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, w := range ws {
			if !w.Retiring && slices.ContainsFunc(before, func(b nginx.Worker) bool { return b.PID == w.PID }) {
				return false, "old workers still current", nil
			}
		}
		return len(ws) > 0, "no workers", nil
	})
}

package reconciler

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/spec"
)

// nginxRouter routes the colors of runtimes process and docker: nginx's
// config names the active color (nginxConfig), and a swap writes, tests
// and reloads it.
type nginxRouter struct{ r *Reconciler }

var _ router = (*nginxRouter)(nil)

func (n *nginxRouter) name() string { return "nginx" }

func (n *nginxRouter) observe(ctx context.Context) (nginx.Observed, error) {
	return n.r.proxy.Observe(ctx)
}

// route renders the config routing to c, tests it and reloads (or
// starts) nginx unless nginx already serves it, then checks c and version
// through the public listener. With reload, an nginx that already reports
// the config's hash is reloaded all the same: its running config may be a
// hand edit that kept the hash line, and Ensure has rewritten the file.
func (n *nginxRouter) route(ctx context.Context, c spec.Color, version string, reload bool) (string, error) {
	outcome, err := n.r.proxy.Ensure(ctx, n.r.nginxConfig(c))
	if err != nil {
		return "", err
	}
	if reload && outcome == nginx.Unchanged {
		if err := n.reloadVerified(ctx); err != nil {
			return "", err
		}
	}
	return string(outcome), n.verify(ctx, c, version)
}

// verify checks through nginx's public listener that c and version
// answer, three fresh connections in a row.
func (n *nginxRouter) verify(ctx context.Context, c spec.Color, version string) error {
	return n.r.proxy.VerifyRoute(ctx, c, version)
}

// reloadVerified reloads nginx and waits until its workers were replaced.
func (n *nginxRouter) reloadVerified(ctx context.Context) error {
	runner := n.r.proxy.Runner()
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

// drift says how the running nginx differs from the config that routes
// to active: "" when it does not.
func (n *nginxRouter) drift(o observation, active spec.Color) string {
	if !o.route.Running {
		return "nginx is not running"
	}
	text, hash, err := nginx.Render(n.r.nginxConfig(active))
	if err != nil {
		return "render: " + err.Error()
	}
	if o.routeErr != nil {
		return "nginx admin listener: " + o.routeErr.Error()
	}
	if o.route.Hash != hash || o.route.Active != active {
		return "nginx serves config " + o.route.Hash + " routing to " + string(o.route.Active) + ", want " + hash + " routing to " + string(active)
	}
	live, err := os.ReadFile(filepath.Join(n.r.proxy.Runner().Dir(), nginx.ConfFile))
	if err != nil || !bytes.Equal(live, text) {
		return "nginx.conf was changed by hand"
	}
	return ""
}

// retiredShutdown is the worker_shutdown_timeout of the config nginx
// serves now (0 when it sets none or cannot be read): the workers a reload
// retires keep their own config's value.
func (n *nginxRouter) retiredShutdown() time.Duration {
	conf, err := os.ReadFile(filepath.Join(n.r.proxy.Runner().Dir(), nginx.ConfFile))
	if err != nil {
		return 0
	}
	d, _ := nginx.WorkerShutdownTimeoutOf(conf)
	return d
}

// drain reads the old color's in-flight count (/health/deep) and nginx's
// retiring workers, which could still send it a request.
func (n *nginxRouter) drain(ctx context.Context, from spec.Color, last drainReading) (drainReading, error) {
	rd := drainReading{inFlight: last.inFlight, routing: last.routing, routingWhat: "retiring nginx workers"}
	deep, err := n.r.clientFor(from).Deep(ctx, n.r.colorAddr(from))
	if err != nil {
		rd.silent = true
		rd.unread = append(rd.unread, "the old color does not answer: "+err.Error())
	} else {
		rd.inFlight = deep.InFlight
	}
	ws, err := n.r.proxy.Runner().Workers(ctx)
	if err != nil {
		rd.unread = append(rd.unread, "nginx's workers cannot be listed: "+err.Error())
		return rd, nil
	}
	rd.routing = 0
	for _, w := range ws {
		if w.Retiring {
			rd.routing++
		}
	}
	return rd, nil
}

func (n *nginxRouter) stop(ctx context.Context) error { return n.r.proxy.Stop(ctx) }

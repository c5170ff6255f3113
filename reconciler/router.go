package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
	"github.com/zero-downtime-ml/zdml/spec"
)

// router moves public traffic from one color to the other: nginx for
// runtimes process and docker (nginxRouter), the stable Service's
// selector for runtime kubernetes (kubeRouter). The pipeline swaps,
// verifies, drains and restores through it alone: rollback repeats the
// swap towards the old color (route), and verify is the one route check.
type router interface {
	// name says what routes, in messages: "nginx", "service chat".
	name() string
	// observe reports what routes now: Running when something routes
	// (nginx runs, the stable Service exists) and Active, the color it
	// routes to; ID names it.
	observe(ctx context.Context) (nginx.Observed, error)
	// route points public traffic at color c, which serves version, and
	// checks that it arrives (verify). With reload, a route that already
	// looks right is applied again (a self-heal of a hand edit).
	route(ctx context.Context, c spec.Color, version string, reload bool) (string, error)
	// verify checks that public traffic reaches only c, serving version.
	// It changes nothing.
	verify(ctx context.Context, c spec.Color, version string) error
	// drift says how the routing differs from one routing to active (""
	// when it does not), from o.
	drift(o observation, active spec.Color) string
	// retiredShutdown is, before a swap, how long what the swap retires
	// may carry streams to the old color before it cuts them (nginx's
	// worker_shutdown_timeout); 0 when nothing cuts them.
	retiredShutdown() time.Duration
	// drain reads what still holds the old color: its requests in flight,
	// and the paths that can still send it one. A number it cannot read
	// keeps last's and is named in unread.
	drain(ctx context.Context, from spec.Color, last drainReading) (drainReading, error)
	// stop stops routing altogether (zdml down).
	stop(ctx context.Context) error
}

// router is the router of the runtime that serves: the deploy in
// progress's target, else the deployed revision's, else the desired
// state's (kubernetes or not: the colors of one runtime are routed by
// one router).
func (r *Reconciler) router() router {
	if routingRuntime(r.routingRevision()) != spec.RuntimeKubernetes {
		return r.nginxRouter()
	}
	drv, err := r.driver(spec.RuntimeKubernetes)
	if err != nil {
		return brokenRouter{err: err}
	}
	return &kubeRouter{r: r, k: drv.(*kubernetes.Kubernetes)}
}

func (r *Reconciler) nginxRouter() *nginxRouter { return &nginxRouter{r: r} }

// routingRevision is the revision whose runtime routes now.
func (r *Reconciler) routingRevision() *Revision {
	for _, rev := range []*Revision{r.progressTarget(), r.state.Deployed, r.state.Desired} {
		if rev != nil && rev.Spec != nil {
			return rev
		}
	}
	return nil
}

func (r *Reconciler) progressTarget() *Revision {
	if p := r.state.InProgress; p != nil {
		return &p.Target
	}
	return nil
}

// routingRuntime is the runtime of a revision (process when none).
func routingRuntime(rev *Revision) string {
	if rev == nil || rev.Spec == nil || rev.Spec.Runtime == "" {
		return spec.RuntimeProcess
	}
	return rev.Spec.Runtime
}

// routedByNginx reports whether a runtime's colors are routed by nginx.
func routedByNginx(runtime string) bool { return runtime != spec.RuntimeKubernetes }

// brokenRouter is the router of a runtime whose driver cannot be built:
// every action says why.
type brokenRouter struct{ err error }

func (b brokenRouter) name() string { return "router" }
func (b brokenRouter) observe(context.Context) (nginx.Observed, error) {
	return nginx.Observed{}, b.err
}
func (b brokenRouter) route(context.Context, spec.Color, string, bool) (string, error) {
	return "", b.err
}
func (b brokenRouter) verify(context.Context, spec.Color, string) error { return b.err }
func (b brokenRouter) drift(observation, spec.Color) string             { return b.err.Error() }
func (b brokenRouter) retiredShutdown() time.Duration                   { return 0 }
func (b brokenRouter) drain(_ context.Context, _ spec.Color, last drainReading) (drainReading, error) {
	return last, b.err
}
func (b brokenRouter) stop(context.Context) error { return fmt.Errorf("stop routing: %w", b.err) }

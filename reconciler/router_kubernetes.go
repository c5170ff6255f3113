package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
	"github.com/zero-downtime-ml/zdml/spec"
)

// kubeRouter routes the colors of runtime kubernetes: the stable
// Service's selector names the active color (kubernetes.Router), and a
// swap moves it. Its observation is the Service: Running when it selects
// one of the app's colors, Active that color.
type kubeRouter struct {
	r *Reconciler
	k *kubernetes.Kubernetes
}

var _ router = (*kubeRouter)(nil)

func (kr *kubeRouter) name() string { return "service " + kr.k.Router().Service() }

func (kr *kubeRouter) observe(ctx context.Context) (nginx.Observed, error) {
	c, err := kr.k.Router().Active(ctx)
	if err != nil || c == "" {
		return nginx.Observed{}, err
	}
	return nginx.Observed{Status: nginx.Status{Running: true, ID: kr.name()}, Active: c}, nil
}

// route moves the stable Service's selector to c (created when missing,
// once c has a Ready pod), then checks the route (verify).
func (kr *kubeRouter) route(ctx context.Context, c spec.Color, version string, _ bool) (string, error) {
	outcome, err := kr.k.Router().Ensure(ctx, c)
	if err != nil {
		return "", err
	}
	return string(outcome), kr.verify(ctx, c, version)
}

// verify waits until the stable Service's EndpointSlices list only c's
// ready pods, then checks that c and version answer through the Service.
func (kr *kubeRouter) verify(ctx context.Context, c spec.Color, version string) error {
	return kr.k.Router().VerifyRoute(ctx, c, version)
}

func (kr *kubeRouter) drift(o observation, active spec.Color) string {
	switch {
	case o.routeErr != nil:
		return kr.name() + ": " + o.routeErr.Error()
	case !o.route.Running:
		return kr.name() + " does not exist or selects no color"
	case o.route.Active != active:
		return fmt.Sprintf("%s routes to %s, want %s", kr.name(), o.route.Active, active)
	}
	return ""
}

// retiredShutdown is 0: nothing cuts a connection to an old pod before
// the pod itself stops (its grace period covers the drain).
func (kr *kubeRouter) retiredShutdown() time.Duration { return 0 }

// drain reads the two signals of a Kubernetes drain: the old color's pods
// the stable Service's EndpointSlices still list, and the requests they
// hold (their /health/deep through the pod proxy). An API server that
// does not answer is a reading not taken, never "drained".
func (kr *kubeRouter) drain(ctx context.Context, from spec.Color, last drainReading) (drainReading, error) {
	rd := drainReading{inFlight: last.inFlight, routing: last.routing, routingWhat: "old pods in " + kr.name() + "'s endpoints"}
	st, err := kr.k.Router().Drain(ctx, from)
	if err != nil {
		rd.unread = append(rd.unread, err.Error())
		return rd, nil
	}
	rd.routing = st.InService
	if st.Unreachable > 0 {
		rd.silent = st.Unreachable == st.Pods
		rd.unread = append(rd.unread, fmt.Sprintf("%d of the old color's %d pods do not answer /health/deep", st.Unreachable, st.Pods))
		return rd, nil
	}
	rd.inFlight = st.InFlight
	return rd, nil
}

// stop leaves the stable Service: it selects a color with no pod once
// both are stopped, and the next deploy moves it.
func (kr *kubeRouter) stop(context.Context) error { return nil }

package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/spec"
)

// endpoint is one address the stable Service's EndpointSlices list.
type endpoint struct {
	pod   string // the target pod's name ("" when the endpoint names none)
	ready bool
}

// endpoints lists the stable Service's EndpointSlice endpoints.
func (r *Router) endpoints(ctx context.Context) ([]endpoint, error) {
	ctx, cancel := r.k.call(ctx)
	defer cancel()
	list, err := r.k.client.DiscoveryV1().EndpointSlices(r.k.namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + r.k.service})
	if err != nil {
		return nil, wrap("list endpointslices of "+r.k.service, err)
	}
	var eps []endpoint
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			ep := endpoint{ready: ptr.Deref(e.Conditions.Ready, false)}
			if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
				ep.pod = e.TargetRef.Name
			}
			eps = append(eps, ep)
		}
	}
	return eps, nil
}

// Verify waits, up to DefaultVerifyTimeout, until the stable Service's
// EndpointSlices list only color c's pods, and every ready pod of c as
// ready: then no new connection through the Service reaches the other
// color. It changes nothing.
func (r *Router) Verify(ctx context.Context, c spec.Color) error {
	var why string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, r.verifyTimeout, true, func(ctx context.Context) (bool, error) {
		why = r.routes(ctx, c)
		return why == "", nil
	})
	if err != nil {
		return fmt.Errorf("verify %s routes to %s: %s", r.k.service, c, why)
	}
	return nil
}

// routes says why the stable Service does not route only to color c's
// ready pods, or "" when it does.
func (r *Router) routes(ctx context.Context, c spec.Color) string {
	// Terminating pods count as c's (a pod deleted by hand is still
	// listed, as not ready, while it stops), but only running ones must
	// be listed ready.
	pods, err := r.k.allPods(ctx, c)
	if err != nil {
		return err.Error()
	}
	eps, err := r.endpoints(ctx)
	if err != nil {
		return err.Error()
	}
	mine := map[string]bool{}
	var ready []string
	for _, p := range pods {
		mine[p.Name] = true
		if p.DeletionTimestamp == nil && podReady(&p) {
			ready = append(ready, p.Name)
		}
	}
	listed := map[string]bool{}
	for _, e := range eps {
		if !mine[e.pod] {
			return fmt.Sprintf("its endpoints list %q, not a pod of %s", e.pod, c)
		}
		if e.ready {
			listed[e.pod] = true
		}
	}
	missing := slices.DeleteFunc(ready, func(p string) bool { return listed[p] })
	switch {
	case len(listed) == 0:
		return fmt.Sprintf("no ready endpoint (%d endpoints, %d ready pods of %s)", len(eps), len(ready), c)
	case len(missing) > 0:
		return "ready pods not listed yet: " + strings.Join(missing, ", ")
	}
	return ""
}

// DrainState is what the drain of a color waits on: its pods are out of
// the stable Service's EndpointSlices, and they hold no request (their
// real in-flight counts, from /health/deep through the pod proxy).
type DrainState struct {
	Pods        int   // the color's pods
	InService   int   // of them, listed in the stable Service's EndpointSlices
	InFlight    int64 // requests they hold, summed
	Unreachable int   // pods whose /health/deep did not answer
}

// Drained reports whether nothing can reach the color through the stable
// Service any more and nothing is in flight on it.
func (d DrainState) Drained() bool { return d.InService == 0 && d.InFlight == 0 && d.Unreachable == 0 }

func (d DrainState) String() string {
	return fmt.Sprintf("%d pods, %d in the service's endpoints, %d requests in flight, %d unreachable",
		d.Pods, d.InService, d.InFlight, d.Unreachable)
}

// Drain observes the drain of color c once; the caller polls it, within
// the spec's drain timeout, until Drained. Terminating pods count: a pod
// deleted by hand still finishes its requests. It changes nothing.
func (r *Router) Drain(ctx context.Context, c spec.Color) (DrainState, error) {
	pods, err := r.k.allPods(ctx, c)
	if err != nil {
		return DrainState{}, err
	}
	eps, err := r.endpoints(ctx)
	if err != nil {
		return DrainState{}, err
	}
	st := DrainState{Pods: len(pods)}
	for _, p := range pods {
		if slices.ContainsFunc(eps, func(e endpoint) bool { return e.pod == p.Name }) {
			st.InService++
		}
		if !running(&p) {
			continue // no process to hold a request
		}
		deep, err := r.k.server.Deep(ctx, r.k.podAddr(p.Name))
		if err != nil {
			st.Unreachable++
			continue
		}
		st.InFlight += deep.InFlight
	}
	return st, nil
}

// running reports whether a pod's model-server container is running.
func running(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == ContainerName {
			return cs.State.Running != nil
		}
	}
	return false
}

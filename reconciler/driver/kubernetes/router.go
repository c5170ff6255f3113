package kubernetes

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Outcome says what Router.Ensure did.
type Outcome string

const (
	Unchanged Outcome = "unchanged" // the stable Service already selected the color
	Created   Outcome = "created"   // the stable Service was created selecting the color
	Switched  Outcome = "switched"  // the stable Service's selector moved to the color
)

// Router timings.
const (
	// DefaultReadyWait bounds how long Ensure waits for the color's pod to
	// be Ready (its kubelet readiness probe) before it routes to it.
	DefaultReadyWait = time.Minute
	// DefaultVerifyTimeout bounds how long Verify waits for the stable
	// Service's EndpointSlices to list only the new color.
	DefaultVerifyTimeout = 30 * time.Second
)

// Router is the traffic swap of runtime kubernetes, where runtime process
// and docker use nginx: one stable Service, whose selector names the
// active color, so clients (a ClusterIP, an Ingress, a Gateway) reach
// whichever color it selects. Moving the selector is the swap; the
// EndpointSlice controller and kube-proxy follow it. It observes before it
// acts: Ensure on a selector that is already right changes nothing.
type Router struct {
	k             *Kubernetes
	readyWait     time.Duration
	verifyTimeout time.Duration
}

// Router returns the driver's Router for the stable Service
// (spec.kubernetes.service).
func (k *Kubernetes) Router() *Router {
	return &Router{k: k, readyWait: DefaultReadyWait, verifyTimeout: DefaultVerifyTimeout}
}

// Service is the stable Service's name.
func (r *Router) Service() string { return r.k.service }

// stable is the stable Service routing to c.
func (r *Router) stable(c spec.Color) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: r.k.service, Namespace: r.k.namespace, Labels: r.k.ownerLabels()},
		Spec:       corev1.ServiceSpec{Selector: r.k.selector(c), Ports: servicePorts()},
	}
}

// Active is the color the stable Service selects: "" when there is no
// stable Service yet. A Service by that name that is not ours is an error.
func (r *Router) Active(ctx context.Context) (spec.Color, error) {
	svc, found, err := r.get(ctx)
	if err != nil || !found {
		return "", err
	}
	return r.k.colorOf(svc.Spec.Selector), nil
}

// colorOf is the color a selector of ours selects, "" for any other.
func (k *Kubernetes) colorOf(sel map[string]string) spec.Color {
	c := spec.Color(sel[LabelColor])
	if !c.Valid() || !maps.Equal(sel, k.selector(c)) {
		return ""
	}
	return c
}

func (r *Router) get(ctx context.Context) (*corev1.Service, bool, error) {
	ctx, cancel := r.k.call(ctx)
	defer cancel()
	svc, err := r.k.client.CoreV1().Services(r.k.namespace).Get(ctx, r.k.service, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap("get service "+r.k.service, err)
	}
	if !r.k.owns(svc.Labels) {
		return nil, false, fmt.Errorf("stable service %s/%s: %w", r.k.namespace, r.k.service, ErrNotOwned)
	}
	return svc, true, nil
}

// Ensure routes the stable Service to color c: it creates the Service
// when it is missing and moves its selector otherwise; a Service that
// already selects c is left alone. Before it routes, c must have a pod the
// kubelet calls Ready (waited for up to DefaultReadyWait): a selector on a
// color with no ready pod would leave the Service with no endpoints.
// Rollback is Ensure to the old color.
func (r *Router) Ensure(ctx context.Context, c spec.Color) (Outcome, error) {
	if !c.Valid() {
		return "", fmt.Errorf("route: color %q: want blue or green", c)
	}
	svc, found, err := r.get(ctx)
	if err != nil {
		return "", err
	}
	if found && r.k.colorOf(svc.Spec.Selector) == c && samePorts(svc.Spec.Ports, servicePorts()) {
		return Unchanged, nil
	}
	if err := r.waitReadyPod(ctx, c); err != nil {
		return "", err
	}
	if err := r.k.ensureService(ctx, r.stable(c)); err != nil {
		return "", err
	}
	from := spec.Color("")
	if found {
		from = r.k.colorOf(svc.Spec.Selector)
	}
	r.k.log.Info("stable service routes to color", "service", r.k.service, "color", c, "from", from)
	if !found {
		return Created, nil
	}
	return Switched, nil
}

// waitReadyPod waits until color c has a Ready pod that is not
// terminating.
func (r *Router) waitReadyPod(ctx context.Context, c spec.Color) error {
	var n int
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, r.readyWait, true, func(ctx context.Context) (bool, error) {
		pods, err := r.k.pods(ctx, c)
		if err != nil {
			return false, nil
		}
		n = len(pods)
		for _, p := range pods {
			if podReady(&p) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("route to %s: none of its %d pods became Ready within %s: %w", c, n, r.readyWait, err)
	}
	return nil
}

// podReady reports the kubelet's Ready condition.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

package kubernetes

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/zero-downtime-ml/zdml/spec"
)

// colorService is color c's own Service: the reconciler reaches the color
// through it and the API server's service proxy. It publishes pods that
// are not ready yet, so the gates read a loading standby's /ready reason
// and /health/deep (a model that failed to load) as they do for a
// process; clients never use it.
func (k *Kubernetes) colorService(c spec.Color) *corev1.Service {
	labels := k.ownerLabels()
	labels[LabelColor] = string(c)
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: k.ObjectName(c), Namespace: k.namespace, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector:                 k.selector(c),
			Ports:                    servicePorts(),
			PublishNotReadyAddresses: true,
		},
	}
}

func servicePorts() []corev1.ServicePort {
	return []corev1.ServicePort{{Name: PortName, Port: ServicePort, TargetPort: intstr.FromString(PortName), Protocol: corev1.ProtocolTCP}}
}

// ensureService creates want, or brings an existing Service of ours to
// want's selector, ports and publishing; a Service that already is so is
// left alone. A Service by that name that is not ours is an error. A
// Service changed meanwhile (a conflict) is observed again.
func (k *Kubernetes) ensureService(ctx context.Context, want *corev1.Service) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error { return k.ensureServiceOnce(ctx, want) })
}

func (k *Kubernetes) ensureServiceOnce(ctx context.Context, want *corev1.Service) error {
	api := k.client.CoreV1().Services(k.namespace)
	cctx, cancel := k.call(ctx)
	cur, err := api.Get(cctx, want.Name, metav1.GetOptions{})
	cancel()
	switch {
	case apierrors.IsNotFound(err):
		cctx, cancel := k.call(ctx)
		defer cancel()
		_, err = api.Create(cctx, want, metav1.CreateOptions{})
		if err == nil {
			k.log.Info("service created", "service", want.Name)
		}
		return wrap("create service "+want.Name, err)
	case err != nil:
		return wrap("get service "+want.Name, err)
	case !k.owns(cur.Labels):
		return fmt.Errorf("service %s/%s: %w", k.namespace, want.Name, ErrNotOwned)
	case maps.Equal(cur.Spec.Selector, want.Spec.Selector) && samePorts(cur.Spec.Ports, want.Spec.Ports) &&
		cur.Spec.PublishNotReadyAddresses == want.Spec.PublishNotReadyAddresses:
		return nil
	}
	// An update, not a patch: a merge patch keeps selector keys and ports
	// that want has not, and the resource version makes a concurrent
	// change fail rather than be overwritten.
	cur.Spec.Selector, cur.Spec.Ports = want.Spec.Selector, want.Spec.Ports
	cur.Spec.PublishNotReadyAddresses = want.Spec.PublishNotReadyAddresses
	cctx, cancel = k.call(ctx)
	defer cancel()
	_, err = api.Update(cctx, cur, metav1.UpdateOptions{})
	if err == nil {
		k.log.Info("service updated", "service", want.Name)
	}
	return wrap("patch service "+want.Name, err)
}

func samePorts(a, b []corev1.ServicePort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Port != b[i].Port || a[i].TargetPort != b[i].TargetPort {
			return false
		}
	}
	return true
}

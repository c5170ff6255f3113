package kubernetes

import (
	"context"
	"errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Recover reports the colors this app runs, from the cluster's own
// objects (as Argo Rollouts recovers from its ReplicaSets): every
// Deployment carrying this app's owner labels is listed, and a color's
// Deployment that wants a pod is inspected and returned when it runs. A
// Deployment of ours by another name (an orphan) is scaled to zero; a
// stopped color's Deployment stays as it is. Objects without our labels
// are never looked at.
func (k *Kubernetes) Recover(ctx context.Context) ([]driver.Status, error) {
	cctx, cancel := k.call(ctx)
	list, err := k.client.AppsV1().Deployments(k.namespace).List(cctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(k.ownerLabels()).String()})
	cancel()
	if err != nil {
		return nil, wrap("list deployments", err)
	}
	var (
		found []driver.Status
		errs  []error
	)
	for _, d := range list.Items {
		c := spec.Color(d.Labels[LabelColor])
		replicas := ptr.Deref(d.Spec.Replicas, 1)
		switch {
		case c.Valid() && d.Name == k.ObjectName(c):
			if replicas == 0 {
				continue
			}
			st, err := k.Inspect(ctx, c)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if st.Running {
				k.log.Info("color found", "color", c, "deployment", d.Name, "version", st.ModelVersion, "pod", st.ID)
				found = append(found, st)
			}
		case replicas != 0:
			k.log.Info("orphan scaled to zero", "deployment", d.Name, "color", c)
			errs = append(errs, k.patch(ctx, d.Name, map[string]any{"spec": map[string]any{"replicas": 0}}))
		}
	}
	return found, errors.Join(errs...)
}

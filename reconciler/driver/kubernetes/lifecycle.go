package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Start runs inst as the Deployment <app>-<color>, with the color's own
// Service. It observes first: a Deployment of ours with the same config
// and template hashes is adopted as it is (scaled back to one pod if it was
// stopped); any other Deployment of ours by that name is replaced (its
// template updated: the Recreate strategy stops the old pod, then starts
// the new one); a Deployment by that name that is not ours is an error.
// It returns without waiting for the pod: Inspect and the gates follow it.
func (k *Kubernetes) Start(ctx context.Context, inst driver.Instance) (driver.Status, error) {
	if !inst.Color.Valid() {
		return driver.Status{}, fmt.Errorf("kubernetes start: color %q: want blue or green", inst.Color)
	}
	if inst.Image == "" {
		return driver.Status{}, fmt.Errorf("kubernetes start %s: no image (set spec.image for runtime kubernetes)", inst.Color)
	}
	want, err := k.deployment(inst)
	if err != nil {
		return driver.Status{}, fmt.Errorf("kubernetes start %s: %w", inst.Color, err)
	}
	if err := k.ensureService(ctx, k.colorService(inst.Color)); err != nil {
		return driver.Status{}, err
	}
	cur, found, err := k.getDeployment(ctx, inst.Color)
	if err != nil {
		return driver.Status{}, err
	}
	log := k.log.With("color", inst.Color, "deployment", want.Name, "version", inst.ModelVersion)
	switch {
	case !found:
		err = k.create(ctx, want)
		log.Info("deployment created", "template_hash", want.Annotations[AnnotationTemplate])
	case !k.owns(cur.Labels):
		return driver.Status{}, fmt.Errorf("kubernetes start %s: deployment %s/%s: %w", inst.Color, k.namespace, want.Name, ErrNotOwned)
	case sameRun(cur, want):
		err = k.adopt(ctx, cur, want, log)
	default:
		log.Info("deployment replaced", "was_version", cur.Annotations[AnnotationVersion],
			"was_template_hash", cur.Annotations[AnnotationTemplate], "template_hash", want.Annotations[AnnotationTemplate])
		err = k.replace(ctx, cur, want)
	}
	if err != nil {
		return driver.Status{}, err
	}
	return k.Inspect(ctx, inst.Color)
}

// sameRun reports whether cur runs what want asks for.
func sameRun(cur, want *appsv1.Deployment) bool {
	return cur.Annotations[AnnotationConfig] == want.Annotations[AnnotationConfig] &&
		cur.Annotations[AnnotationTemplate] == want.Annotations[AnnotationTemplate]
}

func (k *Kubernetes) create(ctx context.Context, d *appsv1.Deployment) error {
	ctx, cancel := k.call(ctx)
	defer cancel()
	_, err := k.client.AppsV1().Deployments(k.namespace).Create(ctx, d, metav1.CreateOptions{})
	return wrap("create deployment "+d.Name, err)
}

// adopt keeps a Deployment that runs the right thing: it records the
// deploy that adopted it, and scales a stopped one back to one pod. Its
// pod is not restarted.
func (k *Kubernetes) adopt(ctx context.Context, cur, want *appsv1.Deployment, log *slog.Logger) error {
	meta := map[string]any{}
	for _, a := range []string{AnnotationDeployID, AnnotationSpecHash, AnnotationVersion, AnnotationModel} {
		if cur.Annotations[a] != want.Annotations[a] {
			meta[a] = want.Annotations[a]
		}
	}
	patch := map[string]any{}
	if len(meta) > 0 {
		patch["metadata"] = map[string]any{"annotations": meta}
	}
	scaled := ptr.Deref(cur.Spec.Replicas, 1) == 0
	if scaled {
		patch["spec"] = map[string]any{"replicas": 1}
	}
	log.Info("deployment adopted", "scaled_up", scaled)
	if len(patch) == 0 {
		return nil
	}
	return k.patch(ctx, cur.Name, patch)
}

// replace gives an existing Deployment of ours want's template, labels,
// annotations and one replica. The Deployment controller writes its
// status meanwhile, which changes the resource version: on a conflict it
// is read again, and still ours, updated again.
func (k *Kubernetes) replace(ctx context.Context, cur, want *appsv1.Deployment) error {
	api := k.client.AppsV1().Deployments(k.namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur.Labels, cur.Annotations, cur.Spec = want.Labels, want.Annotations, want.Spec
		cctx, cancel := k.call(ctx)
		defer cancel()
		_, err := api.Update(cctx, cur, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
		latest, found, gerr := k.getDeployment(ctx, spec.Color(want.Labels[LabelColor]))
		switch {
		case gerr != nil:
			return gerr
		case !found || !k.owns(latest.Labels):
			return fmt.Errorf("deployment %s changed hands while being replaced: %w", want.Name, ErrNotOwned)
		}
		cur = latest
		return err
	})
	return wrap("update deployment "+want.Name, err)
}

// patch merge-patches a Deployment.
func (k *Kubernetes) patch(ctx context.Context, name string, patch map[string]any) error {
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	ctx, cancel := k.call(ctx)
	defer cancel()
	_, err = k.client.AppsV1().Deployments(k.namespace).Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{})
	return wrap("patch deployment "+name, err)
}

// Stop scales color c's Deployment to zero and waits until its pods are
// gone. The pods' own termination does the draining: the preStop sleep
// (load balancers forget the pod), then SIGTERM, on which the model server
// finishes its in-flight requests and exits 0. Pods still there after
// timeout (or when ctx ends) are deleted at once. The Deployment and its
// Service stay, scaled to zero, as the record of what the color ran. A
// color with no Deployment is stopped already.
func (k *Kubernetes) Stop(ctx context.Context, c spec.Color, timeout time.Duration) error {
	cur, found, err := k.getDeployment(ctx, c)
	if err != nil || !found {
		return err
	}
	if !k.owns(cur.Labels) {
		return fmt.Errorf("kubernetes stop %s: deployment %s: %w", c, cur.Name, ErrNotOwned)
	}
	begin := time.Now()
	if ptr.Deref(cur.Spec.Replicas, 1) != 0 {
		if err := k.patch(ctx, cur.Name, map[string]any{"spec": map[string]any{"replicas": 0}}); err != nil {
			return err
		}
		k.log.Info("stopping color", "color", c, "deployment", cur.Name, "version", cur.Annotations[AnnotationVersion])
	}
	if err := k.waitPodsGone(ctx, c, timeout); err != nil {
		left := k.forceDelete(context.WithoutCancel(ctx), c)
		k.log.Warn("pods deleted at once after the stop timeout", "color", c, "timeout", timeout, "pods", left)
		if err := k.waitPodsGone(context.WithoutCancel(ctx), c, 30*time.Second); err != nil {
			return fmt.Errorf("kubernetes stop %s: pods %v still there: %w", c, left, err)
		}
	}
	k.log.Info("color stopped", "color", c, "duration_seconds", time.Since(begin).Seconds())
	return nil
}

// waitPodsGone waits until color c has no pod left, terminating ones
// included, up to timeout or ctx.
func (k *Kubernetes) waitPodsGone(ctx context.Context, c spec.Color, timeout time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pods, err := k.allPods(ctx, c)
		return err == nil && len(pods) == 0, nil
	})
}

// forceDelete deletes color c's pods without a grace period and returns
// their names.
func (k *Kubernetes) forceDelete(ctx context.Context, c spec.Color) []string {
	pods, _ := k.allPods(ctx, c)
	var names []string
	for _, p := range pods {
		cctx, cancel := k.call(ctx)
		err := k.client.CoreV1().Pods(k.namespace).Delete(cctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		cancel()
		if err == nil || apierrors.IsNotFound(err) {
			names = append(names, p.Name)
		}
	}
	return names
}

// SetPriority does nothing: a pod has no nice value, and a color's CPU
// share is its request, which cannot change without restarting the pod
// (in-place resize, InPlacePodVerticalScaling, is not used yet). Both
// colors run at the spec's requests; docs/kubernetes.md says so.
func (k *Kubernetes) SetPriority(ctx context.Context, c spec.Color, p driver.Priority) error {
	return nil
}

// getDeployment returns color c's Deployment; found is false when there
// is none.
func (k *Kubernetes) getDeployment(ctx context.Context, c spec.Color) (*appsv1.Deployment, bool, error) {
	ctx, cancel := k.call(ctx)
	defer cancel()
	d, err := k.client.AppsV1().Deployments(k.namespace).Get(ctx, k.ObjectName(c), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap("get deployment "+k.ObjectName(c), err)
	}
	return d, true, nil
}

// selectorString is color c's pod selector as a list option.
func (k *Kubernetes) selectorString(c spec.Color) string {
	return labels.SelectorFromSet(k.selector(c)).String()
}

package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Inspect observes color c without changing it: its Deployment (what it
// runs: version, config hash) and the pod of its current template. The
// color runs while its Deployment wants a pod and that pod is starting or
// running; it does not when the Deployment is scaled to zero or missing,
// or when its pod fails (an image that is not there, a container that
// exited or crash-loops, no node to run on): ExitErr then says why, with
// the last lines of its log. InstanceID is the server's own, read from
// /health/deep through the pod proxy.
func (k *Kubernetes) Inspect(ctx context.Context, c spec.Color) (driver.Status, error) {
	dep, found, err := k.getDeployment(ctx, c)
	if err != nil || !found {
		return driver.Status{Color: c}, err
	}
	if !k.owns(dep.Labels) {
		return driver.Status{Color: c}, fmt.Errorf("kubernetes inspect %s: deployment %s: %w", c, dep.Name, ErrNotOwned)
	}
	st := driver.Status{
		Color: c, ID: dep.Name, Addr: k.Addr(c), ModelVersion: dep.Annotations[AnnotationVersion],
		ConfigHash: dep.Annotations[AnnotationConfig], Priority: driver.PriorityNormal,
	}
	if ptr.Deref(dep.Spec.Replicas, 1) == 0 {
		return st, nil
	}
	pods, err := k.pods(ctx, c)
	if err != nil {
		return st, err
	}
	pod := current(pods, dep)
	if pod == nil {
		st.Running = true // the Deployment has not made its pod yet
		return st, nil
	}
	st.ID, st.StartedAt = pod.Name, pod.CreationTimestamp.UTC()
	if why := unschedulable(pod); why != "" {
		st.ExitErr, st.Unplaced = why, why
		return st, nil
	}
	if why := failure(pod); why != "" {
		st.ExitErr = why + k.logTail(ctx, pod, 5)
		return st, nil
	}
	st.Running = true
	if pod.Status.PodIP != "" {
		if deep, err := k.server.Deep(ctx, k.podAddr(pod.Name)); err == nil {
			st.InstanceID = deep.InstanceID
		}
	}
	return st, nil
}

// pods lists color c's pods that are not terminating.
func (k *Kubernetes) pods(ctx context.Context, c spec.Color) ([]corev1.Pod, error) {
	all, err := k.allPods(ctx, c)
	return slices.DeleteFunc(all, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil }), err
}

// allPods lists color c's pods, terminating ones included.
func (k *Kubernetes) allPods(ctx context.Context, c spec.Color) ([]corev1.Pod, error) {
	ctx, cancel := k.call(ctx)
	defer cancel()
	list, err := k.client.CoreV1().Pods(k.namespace).List(ctx, metav1.ListOptions{LabelSelector: k.selectorString(c)})
	if err != nil {
		return nil, wrap("list pods of "+k.ObjectName(c), err)
	}
	return list.Items, nil
}

// current is the newest pod of dep's current template; nil when there is
// none yet (a replaced template's old pod does not count).
func current(pods []corev1.Pod, dep *appsv1.Deployment) *corev1.Pod {
	var cur *corev1.Pod
	for i, p := range pods {
		if p.Annotations[AnnotationTemplate] != dep.Annotations[AnnotationTemplate] {
			continue
		}
		if cur == nil || p.CreationTimestamp.After(cur.CreationTimestamp.Time) {
			cur = &pods[i]
		}
	}
	return cur
}

// Waiting reasons of a container that will not start by itself.
var failedWaiting = []string{
	"CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName",
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "PreStartHookError",
}

// unschedulable says why the scheduler cannot place a pod, or "".
func unschedulable(p *corev1.Pod) string {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
			return fmt.Sprintf("pod %s cannot be scheduled: %s", p.Name, cond.Message)
		}
	}
	return ""
}

// failure says why a pod is failing, or "" while it starts or runs. A
// container the kubelet restarted and that runs again is running.
func failure(p *corev1.Pod) string {
	if p.Status.Phase == corev1.PodFailed {
		return fmt.Sprintf("pod %s failed: %s %s", p.Name, p.Status.Reason, p.Status.Message)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != ContainerName {
			continue
		}
		if w := cs.State.Waiting; w != nil && slices.Contains(failedWaiting, w.Reason) {
			why := fmt.Sprintf("pod %s: %s: %s", p.Name, w.Reason, w.Message)
			if t := cs.LastTerminationState.Terminated; t != nil {
				why += "; " + terminated(t, cs.RestartCount)
			}
			return why
		}
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("pod %s: %s", p.Name, terminated(t, cs.RestartCount))
		}
	}
	return ""
}

func terminated(t *corev1.ContainerStateTerminated, restarts int32) string {
	why := fmt.Sprintf("exited with code %d", t.ExitCode)
	if t.Reason == "OOMKilled" {
		why = "killed by the OOM killer (memory limit)"
	} else if t.Reason != "" {
		why += " (" + t.Reason + ")"
	}
	if restarts > 0 {
		why += fmt.Sprintf(", %d restarts", restarts)
	}
	return why
}

// logTail returns "; last log: " and the model server's last n log lines
// (of its previous run when it exited), joined; "" when there are none.
func (k *Kubernetes) logTail(ctx context.Context, p *corev1.Pod, n int64) string {
	s, err := k.podLog(ctx, p, n)
	if err != nil || s == "" {
		return ""
	}
	return "; last log: " + strings.Join(strings.Split(s, "\n"), " | ")
}

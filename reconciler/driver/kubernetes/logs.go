package kubernetes

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

var _ driver.LogTailer = (*Kubernetes)(nil)

// LogTail returns up to n of the last lines color c's model server wrote,
// oldest first, read through the API (pods/log): of its newest pod,
// terminating or not, and of the container's previous run when it exited
// and was restarted. The evidence of a failed deploy keeps them.
func (k *Kubernetes) LogTail(ctx context.Context, c spec.Color, n int) ([]string, error) {
	pods, err := k.allPods(ctx, c)
	if err != nil {
		return nil, err
	}
	var newest *corev1.Pod
	for i, p := range pods {
		if newest == nil || p.CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = &pods[i]
		}
	}
	if newest == nil {
		return nil, errors.New("no pod of " + k.ObjectName(c))
	}
	s, err := k.podLog(ctx, newest, int64(n))
	if err != nil || s == "" {
		return nil, err
	}
	return strings.Split(s, "\n"), nil
}

// podLog is the model server's last n log lines in pod p (of its
// previous run when it exited and was restarted), trimmed.
func (k *Kubernetes) podLog(ctx context.Context, p *corev1.Pod, n int64) (string, error) {
	previous := false
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == ContainerName && cs.State.Terminated == nil && cs.LastTerminationState.Terminated != nil {
			previous = true
		}
	}
	ctx, cancel := k.call(ctx)
	defer cancel()
	rc, err := k.client.CoreV1().Pods(k.namespace).GetLogs(p.Name, &corev1.PodLogOptions{
		Container: ContainerName, TailLines: &n, Previous: previous, LimitBytes: ptr.To[int64](64 << 10),
	}).Stream(ctx)
	if err != nil {
		return "", wrap("logs of pod "+p.Name, err)
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = io.Copy(&out, rc)
	return strings.TrimSpace(out.String()), nil
}

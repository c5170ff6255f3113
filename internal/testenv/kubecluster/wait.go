package kubecluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// wait retries check every 250 ms until it succeeds, timeout passes or a
// component exits (then the error names it: its log tail follows in New's
// error).
func (c *Cluster) wait(ctx context.Context, what string, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		for _, p := range c.procs {
			if p.exited() {
				return fmt.Errorf("kubecluster: waiting for %s: %s (pid %d) exited", what, p.name, p.pid)
			}
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubecluster: waited %s for %s: %w", timeout, what, errors.Join(ctx.Err(), last))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// apiReady asks the API server's /readyz.
func (c *Cluster) apiReady(ctx context.Context) error {
	body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("readyz: %w: %s", err, body)
	}
	return nil
}

// nodeReady holds when the Node has registered with condition Ready=True.
func (c *Cluster) nodeReady(ctx context.Context) error {
	n, err := c.Client.CoreV1().Nodes().Get(ctx, c.nodeName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			if cond.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s: Ready=%s: %s", n.Name, cond.Status, cond.Message)
		}
	}
	return fmt.Errorf("node %s: no Ready condition yet", n.Name)
}

// defaultServiceAccount holds once the controller-manager has made the
// default namespace's service account, without which no pod is admitted.
func (c *Cluster) defaultServiceAccount(ctx context.Context) error {
	_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
	return err
}

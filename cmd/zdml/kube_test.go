package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/internal/testenv/kubecluster"
	"github.com/zero-downtime-ml/zdml/reconciler"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
	"github.com/zero-downtime-ml/zdml/spec"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

// TestKubeKillMidDeploy SIGKILLs the real `zdml reconcile --nginx none`
// deploying on runtime kubernetes (the test cluster, through its admin
// kubeconfig) as a step starts, then starts it again: it resumes from
// state.json and the cluster's objects and converges to v2, with clients
// chatting through the stable Service throughout and no request failing.
func TestKubeKillMidDeploy(t *testing.T) {
	c := kubecluster.Shared(t)
	image := c.ModelserverImage(t)
	for _, step := range []string{reconciler.StepReady, reconciler.StepSwap, reconciler.StepDrain, reconciler.StepStop} {
		t.Run(step, func(t *testing.T) {
			ns := c.Namespace(t)
			t.Cleanup(func() { clearNamespace(c, ns) })
			models := testenv.ModelsDir(t)
			k, err := kubernetes.New(driver.Config{App: "chat", ModelsDir: models, Kubernetes: &spec.Kubernetes{Namespace: ns, Service: "chat"}},
				kubernetes.WithRESTConfig(c.Config))
			if err != nil {
				t.Fatal(err)
			}
			w := newWorld(t)
			w.env = append(w.env, "ZDML_NGINX_RUNTIME=none")
			text := func(version string) string {
				return strings.Replace(desired(version), "spec:\n", fmt.Sprintf("spec:\n  runtime: kubernetes\n  image: %s\n"+
					"  kubernetes: {namespace: %s, kubeconfig: %s, models: {hostPath: %s}}\n", image, ns, c.Kubeconfig, models), 1)
			}
			w.commitText(text("v1"), "v1")
			w.startDaemon()
			w.waitSynced("v1", 3*time.Minute)
			hc := k.HTTPClient()
			hc.Timeout = 30 * time.Second
			chat := startChatAt(hc, k.Router().Addr()+"/chat")
			chat.waitOK(t, 10)
			c2 := w.commitText(text("v2"), "v2")
			w.waitEvent(3*time.Minute, func(e reconciler.Event) bool {
				return e.Commit == c2 && e.Step == step && e.Phase == reconciler.PhaseStart
			})
			w.kill9()
			chat.waitOK(t, 10) // served with no daemon at all
			restarted := time.Now()
			w.startDaemon()
			st := w.waitSynced("v2", 3*time.Minute)
			t.Logf("killed at %s; converged %s after the restart", step, time.Since(restarted).Round(time.Millisecond))
			chat.waitOK(t, 10)
			chat.check(t)
			if st.DeployedCommit != c2 || st.Nginx.Router != "service chat" {
				t.Errorf("deployed commit %s routed by %q, want %s behind service chat", st.DeployedCommit, st.Nginx.Router, c2)
			}
			recs, err := reconciler.ReadHistory(w.state, 0)
			if err != nil {
				t.Fatal(err)
			}
			if last := recs[len(recs)-1]; last.Outcome != reconciler.OutcomeSucceeded || last.ToVersion != "v2" {
				t.Errorf("history last %s %s, want v2 succeeded", last.ToVersion, last.Outcome)
			}
			waitScaledToZero(t, c, ns, "chat-"+string(st.ActiveColor.Other()))
		})
	}
}

// waitScaledToZero waits until a Deployment wants no pod and has none.
func waitScaledToZero(t *testing.T, c *kubecluster.Cluster, ns, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && ptr.Deref(d.Spec.Replicas, 1) == 0 && d.Status.Replicas == 0, nil
	})
	if err != nil {
		t.Errorf("%s not scaled to zero: %v", name, err)
	}
}

// clearNamespace deletes a namespace's Deployments and pods at once, so
// that their CPU requests are free for the next test on the one node.
func clearNamespace(c *kubecluster.Cluster, ns string) {
	ctx := context.Background()
	_ = c.Client.AppsV1().Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	_ = c.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, nil
	})
}

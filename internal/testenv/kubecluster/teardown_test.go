package kubecluster

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// TestStopLeavesNothing starts a second cluster next to the shared one
// (each in its own slot), runs a pod on it, stops it, and finds nothing of
// it left on the machine: no process, mount, cgroup, network namespace,
// route, slot claim or directory. The shared cluster still answers.
func TestStopLeavesNothing(t *testing.T) {
	shared := Shared(t)
	c, err := New(context.Background(), Options{RepoRoot: testenv.RepoRoot(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second cluster in slot %d (shared: %d), ready in %v: %v", c.Slot, shared.Slot, c.Took["total"], c.Took)
	if c.Slot == shared.Slot {
		t.Fatalf("two clusters in slot %d", c.Slot)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.Stop()
		}
	})

	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "pause", Image: PauseImage, ImagePullPolicy: corev1.PullIfNotPresent,
		}}},
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods("default").Get(ctx, "sleeper", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("pod never ran: %v", err)
	}
	if len(mountsUnder(c.Dir)) == 0 {
		t.Fatal("a running pod but no mount under the cluster's directory: the check below would prove nothing")
	}

	if err := c.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true
	if m := mountsUnder(c.Dir); len(m) > 0 {
		t.Errorf("still mounted: %v", m)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still there (%v)", c.Dir, err)
	}
	if p := pidsWithArg(c.Dir + "/"); len(p) > 0 {
		t.Errorf("processes left: %v", p)
	}
	if d := cgroupDirs(c.layout); len(d) > 0 {
		t.Errorf("cgroups left: %v", d)
	}
	left := []string{c.netnsPath(), "/sys/class/net/" + c.hostVeth(), slotFile(c.Slot)}
	for _, p := range left {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	if _, err := shared.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the shared cluster stopped answering: %v", err)
	}
}

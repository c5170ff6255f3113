package kubecluster_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/internal/testenv/kubecluster"
)

// TestStopLeavesNothing starts a second cluster next to the shared one
// (each in its own slot), runs a pod on it, stops it, and finds nothing of
// it left on the machine: no process, mount, cgroup, network namespace,
// route, slot claim or directory. The shared cluster still answers.
func TestStopLeavesNothing(t *testing.T) {
	shared := kubecluster.Shared(t)
	c, err := kubecluster.New(context.Background(), kubecluster.Options{RepoRoot: testenv.RepoRoot(t)})
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
			Name: "pause", Image: kubecluster.PauseImage, ImagePullPolicy: corev1.PullIfNotPresent,
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
	if p := processesNaming(c.Dir + "/"); len(p) > 0 {
		t.Errorf("processes left: %v", p)
	}
	left := []string{
		fmt.Sprintf("/run/netns/zdmlk%d", c.Slot),
		fmt.Sprintf("/sys/fs/cgroup/memory/zdmlk%d", c.Slot),
		fmt.Sprintf("/sys/fs/cgroup/pids/zdmlk%d", c.Slot),
		fmt.Sprintf("/sys/class/net/zdmlk%dh", c.Slot),
		fmt.Sprintf("/run/zdml-kube/slot-%d.json", c.Slot),
	}
	for _, p := range left {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	if _, err := shared.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the shared cluster stopped answering: %v", err)
	}
}

func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 4 && strings.HasPrefix(fs[4], dir+"/") {
			out = append(out, fs[4])
		}
	}
	return out
}

func processesNaming(s string) []string {
	pids, _ := procfs.PIDs()
	var out []string
	for _, pid := range pids {
		if args := procfs.Cmdline(pid); strings.Contains(strings.Join(args, " "), s) {
			out = append(out, fmt.Sprintf("%d %s", pid, filepath.Base(args[0])))
		}
	}
	return out
}

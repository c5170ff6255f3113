package reconciler

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestKubeInCluster runs the reconciler itself in the cluster, from
// reconciler.yaml as written (only its image, models hostPath and
// desired.yaml are the test's): the zdml image as the ServiceAccount of
// rbac.yaml, with the in-cluster config and --nginx none. It deploys v1,
// then v2 from an edited ConfigMap under load with no failed request;
// its pod deleted (its state in an emptyDir, lost), the next one recovers
// from the cluster's objects, redeploys nothing, and deploys v3.
func TestKubeInCluster(t *testing.T) {
	e := newKubeEnv(t)
	dockertest.Images(t, "zdml")
	image := os.Getenv("ZDML_ZDML_IMAGE")
	if image == "" {
		image = "zdml/zdml:local"
	}
	if err := e.c.ImportDockerImage(image); err != nil {
		t.Fatal(err)
	}
	cm, dep := reconcilerManifest(t)
	cm.Data["desired.yaml"] = e.spec("v1", "tiny.gguf")
	dep.Spec.Template.Spec.Containers[0].Image = image
	// The test node has 2 CPUs, which both colors' requests (1 CPU each,
	// spec.resources.cpus' default) take: the reconciler asks for none.
	delete(dep.Spec.Template.Spec.Containers[0].Resources.Requests, corev1.ResourceCPU)
	for i, v := range dep.Spec.Template.Spec.Volumes {
		if v.HostPath != nil {
			dep.Spec.Template.Spec.Volumes[i].HostPath.Path = e.modelsDir
		}
	}
	ctx := context.Background()
	cs := e.c.Client
	if _, err := cs.CoreV1().ConfigMaps(e.ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(e.ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			e.reconcilerLogs(dep)
		}
	})
	t0 := time.Now()
	e.waitServes(spec.Blue, "v1", 4*time.Minute)
	t.Logf("measured: reconciler.yaml applied -> v1 served: %s", time.Since(t0).Round(time.Millisecond))
	loop := e.clients(2)
	loop.waitOK(t, 10)
	t0 = time.Now()
	e.setDesired(cm, e.spec("v2", "tiny.gguf"))
	e.waitServes(spec.Green, "v2", 5*time.Minute)
	t.Logf("measured: ConfigMap edited -> v2 served: %s (the kubelet's ConfigMap refresh, then the deploy)", time.Since(t0).Round(time.Millisecond))
	e.waitKube("blue scaled to zero", 2*time.Minute, func(ctx context.Context) (bool, string) {
		d := e.deployment(spec.Blue)
		return ptr.Deref(d.Spec.Replicas, 1) == 0 && len(e.pods(spec.Blue)) == 0, "blue still has pods"
	})
	green := e.onlyPod(spec.Green)

	// The reconciler's pod deleted: its state goes with its emptyDir.
	old := e.reconcilerPod(dep)
	if err := cs.CoreV1().Pods(e.ns).Delete(ctx, old, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitKube("a new reconciler pod running", 2*time.Minute, func(ctx context.Context) (bool, string) {
		p := e.reconcilerPod(dep)
		return p != "" && p != old, "pod " + p
	})
	time.Sleep(15 * time.Second) // several resyncs of the new reconciler: it must change nothing
	if got := e.onlyPod(spec.Green); got != green {
		t.Errorf("green pod %s -> %s after the reconciler restarted; want it adopted", green, got)
	}
	if c, v := e.routeNow(); c != spec.Green || v != "v2" {
		t.Errorf("after the reconciler restarted the stable service answers %s %s, want green v2", c, v)
	}
	e.setDesired(cm, e.spec("v3", "tiny.gguf"))
	e.waitServes(spec.Blue, "v3", 5*time.Minute)
	loop.waitOK(t, 10)
	loop.check(t)
}

// reconcilerManifest decodes reconciler.yaml's ConfigMap and Deployment.
func reconcilerManifest(t *testing.T) (*corev1.ConfigMap, *appsv1.Deployment) {
	t.Helper()
	var (
		cm  *corev1.ConfigMap
		dep *appsv1.Deployment
	)
	for _, doc := range strings.Split(kubernetes.Reconciler, "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("reconciler.yaml: %v", err)
		}
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			cm = o
		case *appsv1.Deployment:
			dep = o
		default:
			t.Fatalf("reconciler.yaml: unexpected %T", obj)
		}
	}
	if cm == nil || dep == nil {
		t.Fatal("reconciler.yaml: want a ConfigMap and a Deployment")
	}
	return cm, dep
}

// waitServes waits until the stable Service answers as c and version.
func (e *kubeEnv) waitServes(c spec.Color, version string, timeout time.Duration) {
	e.t.Helper()
	e.waitKube("the stable service serving "+string(c)+" "+version, timeout, func(context.Context) (bool, string) {
		gc, gv := e.routeNow()
		return gc == c && gv == version, string(gc) + " " + gv
	})
}

// setDesired writes desired.yaml into the reconciler's ConfigMap.
func (e *kubeEnv) setDesired(cm *corev1.ConfigMap, yaml string) {
	e.t.Helper()
	cur, err := e.c.Client.CoreV1().ConfigMaps(e.ns).Get(context.Background(), cm.Name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	cur.Data["desired.yaml"] = yaml
	if _, err := e.c.Client.CoreV1().ConfigMaps(e.ns).Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// reconcilerPod is the running reconciler pod's name ("" when none).
func (e *kubeEnv) reconcilerPod(dep *appsv1.Deployment) string {
	list, err := e.c.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: metav1.FormatLabelSelector(dep.Spec.Selector)})
	if err != nil {
		return ""
	}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			return p.Name
		}
	}
	return ""
}

// reconcilerLogs logs the reconciler pods' last lines.
func (e *kubeEnv) reconcilerLogs(dep *appsv1.Deployment) {
	list, _ := e.c.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: metav1.FormatLabelSelector(dep.Spec.Selector)})
	for _, p := range list.Items {
		b, err := e.c.Client.CoreV1().Pods(e.ns).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: ptr.To[int64](40)}).DoRaw(context.Background())
		e.t.Logf("reconciler pod %s (%v): %s", p.Name, err, b)
	}
}

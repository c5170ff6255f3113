package reconciler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/internal/testenv/kubecluster"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
	"github.com/zero-downtime-ml/zdml/spec"
)

// The TestKube* tests are the end-to-end tests again with `runtime:
// kubernetes`, on the real single-node cluster of kubecluster (etcd, the
// API server, controller manager, scheduler, kubelet and kube-proxy, with
// containerd): each color a Deployment of the model-server image, the
// swap the stable Service's selector, the reconciler in-process outside
// the cluster reaching everything through the API server, as rbac.yaml's
// ServiceAccount. Each test has its own namespace; they share the node's
// two CPUs, so they do not run in parallel.

func TestMain(m *testing.M) { kubecluster.Main(m) }

// kubeEnv is an env whose colors run on the cluster.
type kubeEnv struct {
	*env
	c     *kubecluster.Cluster
	ns    string
	image string
	as    *rest.Config // the zdml ServiceAccount of rbac.yaml (impersonated)
	k     *kubernetes.Kubernetes
}

func newKubeEnv(t testing.TB) *kubeEnv {
	t.Helper()
	c := kubecluster.Shared(t)
	image := c.ModelserverImage(t)
	e := &kubeEnv{env: newEnv(t), c: c, ns: c.Namespace(t), image: image}
	e.applyRBAC()
	e.as = rest.CopyConfig(c.Config)
	e.as.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + e.ns + ":zdml"}
	e.kube = []kubernetes.Option{kubernetes.WithRESTConfig(e.as), kubernetes.WithPreStop(2 * time.Second)}
	k, err := kubernetes.New(e.driverConfig(), e.kube...)
	if err != nil {
		t.Fatal(err)
	}
	e.k = k
	// The API server's RBAC authorizer learns of a new RoleBinding a
	// moment after the create returned.
	e.waitKube("rbac.yaml's Role in effect", 30*time.Second, func(ctx context.Context) (bool, string) {
		_, err := k.Recover(ctx) // lists the app's Deployments as the ServiceAccount
		return err == nil, fmt.Sprint(err)
	})
	t.Cleanup(e.clear)
	return e
}

// driverConfig is the driver configuration desired.yaml gives (spec).
func (e *kubeEnv) driverConfig() driver.Config {
	return driver.Config{App: "chat", ModelsDir: e.modelsDir, Kubernetes: &spec.Kubernetes{Namespace: e.ns, Service: "chat",
		Models: spec.KubeVolume{HostPath: e.modelsDir}}}
}

// spec is desired.yaml for version on runtime kubernetes, serving model.
func (e *kubeEnv) spec(version, model string) string {
	return desiredSpec{Version: version, Path: model, ReadyTimeout: "180s", DrainTimeout: "20s", MaxLatency: "30s",
		Extra: e.kubeExtra()}.yaml()
}

// serveV1 commits v1, starts the reconciler and waits until v1 serves
// through the stable Service.
func (e *kubeEnv) serveV1() StatusReport {
	e.t.Helper()
	e.commit(e.spec("v1", "tiny.gguf"), "v1")
	e.start()
	return e.waitSynced("v1", 4*time.Minute)
}

// clients chat through the stable Service, via the API server's proxy.
func (e *kubeEnv) clients(workers int) *clientLoop {
	hc := e.k.HTTPClient()
	hc.Timeout = 30 * time.Second
	return startClientsAt(e.t, hc, e.k.Router().Addr()+"/chat", workers)
}

// route asks the stable Service who answers /healthz.
func (e *kubeEnv) route() (spec.Color, string) {
	e.t.Helper()
	got, err := e.k.Router().Route(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return got.Color, got.Version
}

// deployment returns color c's Deployment.
func (e *kubeEnv) deployment(c spec.Color) *appsv1.Deployment {
	e.t.Helper()
	d, err := e.c.Client.AppsV1().Deployments(e.ns).Get(context.Background(), "chat-"+string(c), metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// pods lists color c's pods that are not terminating.
func (e *kubeEnv) pods(c spec.Color) []corev1.Pod {
	e.t.Helper()
	list, err := e.c.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: kubernetes.LabelColor + "=" + string(c)})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// onlyPod checks that color c has exactly one pod and returns its name.
func (e *kubeEnv) onlyPod(c spec.Color) string {
	e.t.Helper()
	pods := e.pods(c)
	if len(pods) != 1 {
		e.t.Fatalf("%s has %d pods, want 1", c, len(pods))
	}
	return pods[0].Name
}

func (e *kubeEnv) waitKube(what string, timeout time.Duration, cond func(ctx context.Context) (bool, string)) {
	e.t.Helper()
	var why string
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var ok bool
		ok, why = cond(ctx)
		return ok, nil
	})
	if err != nil {
		e.t.Fatalf("%s: %v (%s)", what, err, why)
	}
}

// applyRBAC creates rbac.yaml's objects in the test's namespace.
func (e *kubeEnv) applyRBAC() {
	e.t.Helper()
	ctx := context.Background()
	cs := e.c.Client
	for _, doc := range strings.Split(kubernetes.RBAC, "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			e.t.Fatalf("rbac.yaml: %v", err)
		}
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			_, err = cs.CoreV1().ServiceAccounts(e.ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = cs.RbacV1().Roles(e.ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = cs.RbacV1().RoleBindings(e.ns).Create(ctx, o, metav1.CreateOptions{})
		default:
			err = fmt.Errorf("unexpected object %T", obj)
		}
		if err != nil {
			e.t.Fatalf("rbac.yaml: %v", err)
		}
	}
}

// clear stops the reconciler, then deletes the test's Deployments and
// pods at once, before its namespace goes: a deleted namespace's pods
// would hold their requests on the one node while they terminate.
func (e *kubeEnv) clear() {
	e.stop()
	ctx := context.Background()
	cs := e.c.Client
	if e.t.Failed() {
		e.dump()
	}
	_ = cs.AppsV1().Deployments(e.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	_ = cs.CoreV1().Pods(e.ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, nil
	})
}

// dump logs the namespace's pods and events of a failed test.
func (e *kubeEnv) dump() {
	ctx := context.Background()
	pods, _ := e.c.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
	events, _ := e.c.Client.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		e.t.Logf("pod %s: phase %s, conditions %+v", p.Name, p.Status.Phase, p.Status.Conditions)
	}
	for _, ev := range events.Items {
		e.t.Logf("event %s %s: %s %s", ev.InvolvedObject.Name, ev.Type, ev.Reason, ev.Message)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, EventsFile)); err != nil {
		return // the reconciler ran in the cluster (TestKubeInCluster)
	}
	for _, ev := range e.events() {
		e.t.Logf("zdml event %s %s %s %s %s", ev.Step, ev.Phase, ev.Color, ev.Version, ev.Message)
	}
}

// removeState deletes state.json, as a lost state directory would.
func removeState(dir string) error { return os.Remove(filepath.Join(dir, StateFile)) }

package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/internal/testenv/kubecluster"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

const app = "chat"

// env is one test's namespace on the shared cluster, with the driver
// acting as the ServiceAccount of rbac.yaml: every test also proves that
// the documented Role is enough.
type env struct {
	c      *kubecluster.Cluster
	ns     string
	models string
	image  string
	k      *Kubernetes
}

func newEnv(t *testing.T, opts ...func(*spec.Kubernetes)) *env {
	t.Helper()
	c := kubecluster.Shared(t)
	image := c.ModelserverImage(t)
	e := &env{c: c, ns: c.Namespace(t), models: testenv.ModelsDir(t), image: image}
	e.applyRBAC(t)
	e.k = newDriver(t, e, opts...)
	// The API server's RBAC authorizer learns of a new RoleBinding through
	// its informers, a moment after the create returned.
	waitFor(t, "rbac.yaml's Role in effect", 30*time.Second, func(ctx context.Context) (bool, string) {
		_, err := e.k.client.AppsV1().Deployments(e.ns).List(ctx, metav1.ListOptions{})
		return err == nil, fmt.Sprint(err)
	})
	t.Cleanup(func() {
		if t.Failed() {
			e.dump(t)
		}
		e.clear(t)
	})
	return e
}

// clear deletes the test's Deployments and pods at once, before its
// namespace goes: a deleted namespace's pods would otherwise hold their
// CPU requests on the one node while they terminate, and the next test's
// colors would not be scheduled.
func (e *env) clear(t *testing.T) {
	ctx := context.Background()
	cs := e.c.Client
	_ = cs.AppsV1().Deployments(e.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	_ = cs.CoreV1().Pods(e.ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, nil
	})
	if err != nil {
		t.Errorf("pods of %s not gone: %v", e.ns, err)
	}
}

// newDriver is a driver for the test's namespace, as rbac.yaml's
// ServiceAccount (impersonated).
func newDriver(t *testing.T, e *env, opts ...func(*spec.Kubernetes)) *Kubernetes {
	t.Helper()
	cfg := rest.CopyConfig(e.c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + e.ns + ":zdml"}
	ks := &spec.Kubernetes{Namespace: e.ns, Models: spec.KubeVolume{HostPath: e.models}}
	for _, o := range opts {
		o(ks)
	}
	k, err := New(driver.Config{ModelsDir: e.models, App: app, Log: testLogger(t), Kubernetes: ks},
		WithRESTConfig(cfg), WithPreStop(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// applyRBAC creates rbac.yaml's objects in the test's namespace.
func (e *env) applyRBAC(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, doc := range strings.Split(RBAC, "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("rbac.yaml: %v", err)
		}
		if err := e.create(ctx, obj); err != nil {
			t.Fatalf("rbac.yaml: %v", err)
		}
	}
}

func (e *env) create(ctx context.Context, obj runtime.Object) error {
	var err error
	switch o := obj.(type) {
	case *corev1.ServiceAccount:
		_, err = e.c.Client.CoreV1().ServiceAccounts(e.ns).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.Role:
		_, err = e.c.Client.RbacV1().Roles(e.ns).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.RoleBinding:
		_, err = e.c.Client.RbacV1().RoleBindings(e.ns).Create(ctx, o, metav1.CreateOptions{})
	default:
		err = fmt.Errorf("unexpected object %T", obj)
	}
	return err
}

// instance is what the reconciler would start for a demo model version.
func (e *env) instance(c spec.Color, version, model string) driver.Instance {
	return driver.Instance{
		Color: c, ModelName: "demo", ModelVersion: version, ModelPath: filepath.Join(e.models, model),
		Image: e.image, Threads: 1, Parallel: 2, Ctx: 512, Memory: 512 << 20, CPUs: 0.5,
		ShutdownTimeout: 20 * time.Second, ConfigHash: "config-" + version + "-" + model,
		DeployID: "deploy-" + version, SpecHash: "spec-" + version, Addr: e.k.Addr(c),
	}
}

// start starts inst and waits until it answers /ready through its
// Service's proxy as inst's color and version, and its pod is Ready.
// It returns how long that took.
func (e *env) start(t *testing.T, inst driver.Instance) (driver.Status, time.Duration) {
	t.Helper()
	t0 := time.Now()
	if _, err := e.k.Start(context.Background(), inst); err != nil {
		t.Fatalf("start %s %s: %v", inst.Color, inst.ModelVersion, err)
	}
	st := e.waitReady(t, inst)
	return st, time.Since(t0)
}

// waitReady waits until inst's color runs, answers /ready as inst's
// version, its pod is Ready, and Inspect knows its instance id.
func (e *env) waitReady(t *testing.T, inst driver.Instance) driver.Status {
	t.Helper()
	var st driver.Status
	var why string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		if st, err = e.k.Inspect(ctx, inst.Color); err != nil {
			why = err.Error()
			return false, nil
		}
		if !st.Running {
			return false, fmt.Errorf("%s is not running: %s", inst.Color, st.ExitErr)
		}
		served, err := e.k.Client().Ready(ctx, e.k.Addr(inst.Color))
		if err != nil || served.Version != inst.ModelVersion || served.Color != inst.Color {
			why = fmt.Sprintf("ready: %v, served %+v", err, served)
			return false, nil
		}
		if why = e.podNotReady(ctx, inst.Color); why != "" {
			return false, nil
		}
		return st.InstanceID != "", nil
	})
	if err != nil {
		t.Fatalf("%s %s never ready: %v (%s)", inst.Color, inst.ModelVersion, err, why)
	}
	return st
}

// podNotReady says why color c has no Ready pod, "" when it has one.
func (e *env) podNotReady(ctx context.Context, c spec.Color) string {
	pods, err := e.k.pods(ctx, c)
	if err != nil {
		return err.Error()
	}
	for _, p := range pods {
		if podReady(&p) {
			return ""
		}
	}
	return fmt.Sprintf("%d pods, none Ready", len(pods))
}

// dump logs the namespace's pods and events when a test failed.
func (e *env) dump(t *testing.T) {
	ctx := context.Background()
	pods, _ := e.c.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{})
	events, _ := e.c.Client.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		b, _ := json.Marshal(p.Status)
		t.Logf("pod %s: %s", p.Name, b)
	}
	for _, ev := range events.Items {
		t.Logf("event %s %s: %s %s", ev.InvolvedObject.Name, ev.Type, ev.Reason, ev.Message)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// waitFor polls cond every 50 ms until it is true, failing the test after
// timeout with cond's last reason.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	var why string
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var ok bool
		ok, why = cond(ctx)
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: %v (%s)", what, err, why)
	}
}

package kubecluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
	"github.com/zero-downtime-ml/zdml/internal/testenv/kubecluster"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

const (
	image = "zdml/modelserver:local"
	model = "tiny.gguf"
	port  = 8000
)

// TestModelServerPods runs the project's model-server image on the
// cluster: a Deployment whose pod reads its model from a hostPath volume
// becomes Ready on /ready, a Service routes to it from the host (its
// ClusterIP through kube-proxy) and through the API server's service
// proxy, its EndpointSlice lists the ready pod, and a pod deleted by hand
// is replaced by a new one that serves again.
func TestModelServerPods(t *testing.T) {
	c := kubecluster.Shared(t)
	dockertest.Images(t, "modelserver")
	if err := c.ImportDockerImage(image); err != nil {
		t.Fatal(err)
	}
	models := testenv.ModelsDir(t)
	testenv.Model(t, model)
	ns := c.Namespace(t)
	ctx := context.Background()
	cs := c.Client

	labels := map[string]string{"app": "modelserver"}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment(labels, models), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "modelserver"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(port)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := readyPod(t, cs, ns, "")
	t.Logf("pod %s ready at %s", first.Name, first.Status.PodIP)
	servesThroughService(t, c, ns, svc, first)

	if err := cs.CoreV1().Pods(ns).Delete(ctx, first.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	second := readyPod(t, cs, ns, first.UID)
	t.Logf("pod %s (after deleting %s) ready at %s", second.Name, first.Name, second.Status.PodIP)
	servesThroughService(t, c, ns, svc, second)
}

func deployment(labels map[string]string, models string) *appsv1.Deployment {
	one, grace := int32(1), int64(5)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "modelserver", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers: []corev1.Container{{
						Name:            "modelserver",
						Image:           image,
						ImagePullPolicy: corev1.PullNever,
						Args: []string{"--model", "/models/" + model, "--addr", fmt.Sprintf("0.0.0.0:%d", port),
							"--color", "blue", "--db", "/data/chat.db", "--threads", "1"},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(port)}},
							PeriodSeconds: 1, FailureThreshold: 1,
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "models", MountPath: "/models", ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{
						HostPath: &corev1.HostPathVolumeSource{Path: models},
					}}},
				},
			},
		},
	}
}

// readyPod waits for the Deployment's one Ready pod that is not old.
func readyPod(t *testing.T, cs kubernetes.Interface, ns string, old types.UID) *corev1.Pod {
	t.Helper()
	var ready *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=modelserver"})
		if err != nil {
			return false, nil
		}
		for i, p := range pods.Items {
			if p.UID == old || p.DeletionTimestamp != nil {
				continue
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					ready = &pods.Items[i]
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		pods, _ := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		events, _ := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		b, _ := json.MarshalIndent(map[string]any{"pods": pods, "events": events}, "", " ")
		t.Fatalf("no ready model-server pod: %v\n%s", err, b)
	}
	return ready
}

// servesThroughService checks the three ways to the pod: its EndpointSlice
// lists it ready, the ClusterIP answers from the host, and the API
// server's service proxy answers.
func servesThroughService(t *testing.T, c *kubecluster.Cluster, ns string, svc *corev1.Service, pod *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		slices, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
			LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name})
		if err != nil || len(slices.Items) != 1 {
			return false, nil
		}
		eps := slices.Items[0].Endpoints
		return len(eps) == 1 && eps[0].Addresses[0] == pod.Status.PodIP &&
			eps[0].Conditions.Ready != nil && *eps[0].Conditions.Ready, nil
	})
	if err != nil {
		t.Fatalf("EndpointSlice of %s never listed only the ready pod %s (%s): %v", svc.Name, pod.Name, pod.Status.PodIP, err)
	}

	// A new connection per request, as a request after a pod is replaced
	// must not ride a kept-alive connection to the gone pod.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/health/deep"
	var body []byte
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("GET %s (ClusterIP, through kube-proxy) from the host: %v (last body %q)", url, err, body)
	}
	checkHealth(t, "ClusterIP", body, pod)

	body, err = c.Client.CoreV1().Services(ns).ProxyGet("", svc.Name, "80", "/health/deep", nil).DoRaw(ctx)
	if err != nil {
		t.Fatalf("GET /api/v1/namespaces/%s/services/%s:80/proxy/health/deep: %v: %s", ns, svc.Name, err, body)
	}
	checkHealth(t, "API server proxy", body, pod)
}

// checkHealth checks /health/deep's answer came from pod (its host name
// is the pod's name) and says ready.
func checkHealth(t *testing.T, via string, body []byte, pod *corev1.Pod) {
	t.Helper()
	var h struct {
		Color string `json:"color"`
		Ready bool   `json:"ready"`
		Host  string `json:"host"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("%s: /health: %v: %s", via, err, body)
	}
	if h.Color != "blue" || !h.Ready || h.Host != pod.Name {
		t.Fatalf("%s: /health/deep = %s, want the ready blue server of pod %s", via, body, pod.Name)
	}
}

// TestBinariesCached proves the cache: asking for the binaries again
// builds nothing (their files are the ones the shared cluster runs, not
// rewritten) and returns at once.
func TestBinariesCached(t *testing.T) {
	c := kubecluster.Shared(t)
	before, err := os.Stat(filepath.Join(c.BinDir, "kube-apiserver"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dir, err := kubecluster.EnsureBinaries(testenv.RepoRoot(t), testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if dir != c.BinDir {
		t.Fatalf("second EnsureBinaries: %s, the cluster runs %s", dir, c.BinDir)
	}
	after, err := os.Stat(filepath.Join(dir, "kube-apiserver"))
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) || !os.SameFile(before, after) {
		t.Fatalf("kube-apiserver was rebuilt: %v -> %v", before.ModTime(), after.ModTime())
	}
	t.Logf("cached binaries in %s found in %v", dir, took)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Errorf("EnsureBinaries built again: %s", b)
	return len(b), nil
}

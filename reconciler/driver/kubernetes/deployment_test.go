package kubernetes

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

func shapeDriver(models spec.KubeVolume, data *spec.KubeVolume) *Kubernetes {
	return &Kubernetes{namespace: "llm", app: "chat", service: "chat", models: models, data: data,
		modelsDir: "/srv/zdml/models", preStop: 5 * time.Second}
}

func shapeInstance() driver.Instance {
	return driver.Instance{Color: spec.Green, ModelName: "demo", ModelVersion: "v2", ModelPath: "/srv/zdml/models/sub/demo-v2.gguf",
		ModelSHA256: strings.Repeat("a", 64), Image: "zdml/modelserver:local", Threads: 2, Parallel: 2, Ctx: 2048,
		Memory: 1 << 30, CPUs: 1.5, ShutdownTimeout: 30 * time.Second, ConfigHash: "c1", DeployID: "d1", SpecHash: "s1"}
}

// TestDeploymentShape: a color's pod runs the model server with the
// flags the other runtimes pass, the model at the same relative path under
// the models volume, the spec's resources, probes on /ready and /healthz,
// and a grace period that covers the preStop sleep and the drain.
func TestDeploymentShape(t *testing.T) {
	k := shapeDriver(spec.KubeVolume{HostPath: "/data/models"}, nil)
	d, err := k.deployment(shapeInstance())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "chat-green" || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
		t.Errorf("deployment %s, %d replicas, strategy %s", d.Name, *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--model /models/sub/demo-v2.gguf", "--addr 0.0.0.0:8000", "--color green", "--model-version v2",
		"--db /data/chat.db", "--threads 2", "--shutdown-timeout 30s", "--memory-limit 1073741824"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if got := *pod.TerminationGracePeriodSeconds; got != 45 {
		t.Errorf("grace period %ds, want 5 (preStop) + 30 (drain) + 10", got)
	}
	if c.Lifecycle.PreStop.Sleep.Seconds != 5 {
		t.Errorf("preStop sleep %ds, want 5", c.Lifecycle.PreStop.Sleep.Seconds)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/ready" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes %s, %s", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	if cpu, mem := c.Resources.Limits.Cpu().String(), c.Resources.Limits.Memory().String(); cpu != "1500m" || mem != "1Gi" {
		t.Errorf("limits cpu %s memory %s, want 1500m and 1Gi", cpu, mem)
	}
	if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.HostPath != nil && v.HostPath.Path == "/data/models" }) {
		t.Errorf("no hostPath models volume: %+v", pod.Volumes)
	}
	if d.Spec.Template.Labels[LabelColor] != "green" || d.Annotations[AnnotationDeployID] != "d1" || d.Annotations[AnnotationConfig] != "c1" {
		t.Errorf("labels %v, annotations %v", d.Spec.Template.Labels, d.Annotations)
	}
}

// TestTemplateHash: what shapes the pod changes the template hash (a
// replacement); what only records the deploy does not (an adoption).
func TestTemplateHash(t *testing.T) {
	base := templateOf(t, shapeDriver(spec.KubeVolume{HostPath: "/data/models"}, nil), shapeInstance())
	same := shapeInstance()
	same.DeployID, same.SpecHash, same.ConfigHash = "d2", "s2", "c2"
	if got := templateOf(t, shapeDriver(spec.KubeVolume{HostPath: "/data/models"}, nil), same); got != base {
		t.Errorf("deploy id, spec and config hash changed the template hash")
	}
	image := shapeInstance()
	image.Image = "zdml/modelserver:v2"
	claim := spec.KubeVolume{Claim: "models"}
	for name, got := range map[string]string{
		"image":       templateOf(t, shapeDriver(spec.KubeVolume{HostPath: "/data/models"}, nil), image),
		"models":      templateOf(t, shapeDriver(claim, nil), shapeInstance()),
		"data volume": templateOf(t, shapeDriver(spec.KubeVolume{HostPath: "/data/models"}, &claim), shapeInstance()),
	} {
		if got == base {
			t.Errorf("another %s kept the template hash", name)
		}
	}
}

func templateOf(t *testing.T, k *Kubernetes, inst driver.Instance) string {
	t.Helper()
	d, err := k.deployment(inst)
	if err != nil {
		t.Fatal(err)
	}
	return d.Annotations[AnnotationTemplate]
}

// TestModelPath: the model maps to the same relative path in the pod; a
// file outside the models directory is refused; models in the image have
// no volume.
func TestModelPath(t *testing.T) {
	k := shapeDriver(spec.KubeVolume{Image: "/opt/models"}, nil)
	d, err := k.deployment(shapeInstance())
	if err != nil {
		t.Fatal(err)
	}
	if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--model /opt/models/sub/demo-v2.gguf") {
		t.Errorf("args %q, want the model under the image's /opt/models", args)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "models" {
			t.Errorf("models volume %+v for models in the image", v)
		}
	}
	outside := shapeInstance()
	outside.ModelPath = "/etc/demo.gguf"
	if _, err := k.deployment(outside); err == nil || !strings.Contains(err.Error(), "outside the models directory") {
		t.Errorf("model outside the models directory: %v", err)
	}
}

package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Termination timing of a color's pod.
const (
	// DefaultPreStop is the preStop sleep: a deleted pod keeps serving
	// this long before SIGTERM, while kube-proxy (which syncs its rules
	// at most once a second by default) and other load balancers stop
	// sending it new connections.
	DefaultPreStop = 5 * time.Second
	// ExitMargin is the time a pod has after its drain to exit before the
	// kubelet kills it.
	ExitMargin = 10 * time.Second
)

// gracePeriod is a pod's terminationGracePeriodSeconds: the preStop sleep,
// then the model server's own drain (--shutdown-timeout, the spec's
// drainTimeout), then time to exit. The kubelet's SIGKILL comes only after
// all three.
func gracePeriod(preStop, drain time.Duration) int64 {
	if drain <= 0 {
		drain = spec.DefaultDrainTimeout
	}
	return int64(math.Ceil((preStop + drain + ExitMargin).Seconds()))
}

// deployment builds color inst.Color's Deployment: one pod of the model
// server, replaced (not rolled) when its template changes, so a color is
// never two versions at once.
func (k *Kubernetes) deployment(inst driver.Instance) (*appsv1.Deployment, error) {
	pod, err := k.podSpec(inst)
	if err != nil {
		return nil, err
	}
	labels := k.ownerLabels()
	labels[LabelColor] = string(inst.Color)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: k.ObjectName(inst.Color), Namespace: k.namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas:             ptr.To[int32](1),
			Selector:             &metav1.LabelSelector{MatchLabels: k.selector(inst.Color)},
			Strategy:             appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			RevisionHistoryLimit: ptr.To[int32](2),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       pod,
			},
		},
	}
	hash := templateHash(d.Spec)
	d.Spec.Template.Annotations = map[string]string{AnnotationTemplate: hash}
	d.Annotations = map[string]string{
		AnnotationVersion: inst.ModelVersion, AnnotationModel: inst.ModelName, AnnotationConfig: inst.ConfigHash,
		AnnotationTemplate: hash, AnnotationDeployID: inst.DeployID, AnnotationSpecHash: inst.SpecHash,
	}
	return d, nil
}

// podSpec is the model server's pod: its flags as the other runtimes
// pass them, resources from the spec, readiness on /ready, liveness on
// /healthz, the drain timing, the models and data volumes, and the
// image's non-root user with a read-only root file system.
func (k *Kubernetes) podSpec(inst driver.Instance) (corev1.PodSpec, error) {
	model, err := k.modelPath(inst.ModelPath)
	if err != nil {
		return corev1.PodSpec{}, err
	}
	listen := fmt.Sprintf("0.0.0.0:%d", ContainerPort)
	c := corev1.Container{
		Name:            ContainerName,
		Image:           inst.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            driver.ModelServerArgs(inst, model, listen, path.Join(DataDir, driver.ChatDBFile)),
		Ports:           []corev1.ContainerPort{{Name: PortName, ContainerPort: ContainerPort, Protocol: corev1.ProtocolTCP}},
		Resources:       resources(inst),
		ReadinessProbe:  probe("/ready", 1, 10, 3),
		LivenessProbe:   probe("/healthz", 10, 5, 6),
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Sleep: &corev1.SleepAction{Seconds: int64(math.Ceil(k.preStop.Seconds()))},
		}},
		SecurityContext: &corev1.SecurityContext{
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts:             []corev1.VolumeMount{{Name: "data", MountPath: DataDir}, {Name: "tmp", MountPath: "/tmp"}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	vols := []corev1.Volume{k.dataVolume(), {Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("64Mi"))}}}}
	if src, ok := k.modelsVolume(); ok {
		vols = append(vols, corev1.Volume{Name: "models", VolumeSource: src})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "models", MountPath: ModelsDir, ReadOnly: true})
	}
	return corev1.PodSpec{
		Containers:                    []corev1.Container{c},
		Volumes:                       vols,
		TerminationGracePeriodSeconds: ptr.To(gracePeriod(k.preStop, inst.ShutdownTimeout)),
		AutomountServiceAccountToken:  ptr.To(false),
		EnableServiceLinks:            ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](RunAsUser), RunAsGroup: ptr.To[int64](RunAsUser),
			FSGroup: ptr.To[int64](RunAsUser), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}, nil
}

func probe(path string, period, timeout, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(PortName)}},
		PeriodSeconds: period, TimeoutSeconds: timeout, FailureThreshold: failures, SuccessThreshold: 1,
	}
}

// resources are the spec's memory and CPUs, as both request and limit: a
// color gets what it was sized for, and the scheduler places it only
// where that fits.
func resources(inst driver.Instance) corev1.ResourceRequirements {
	r := corev1.ResourceList{}
	if inst.Memory > 0 {
		r[corev1.ResourceMemory] = *resource.NewQuantity(int64(inst.Memory), resource.BinarySI)
	}
	if inst.CPUs > 0 {
		r[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(math.Round(inst.CPUs*1000)), resource.DecimalSI)
	}
	return corev1.ResourceRequirements{Requests: r, Limits: r.DeepCopy()}
}

// modelPath maps the model file, a path under the reconciler's models
// directory, to its path in the pod: the same relative path under the
// models volume, or under the image's own models directory.
func (k *Kubernetes) modelPath(hostPath string) (string, error) {
	if k.modelsDir == "" {
		return "", fmt.Errorf("model %s: no models directory to map it from", hostPath)
	}
	rel, err := filepath.Rel(k.modelsDir, hostPath)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
		return "", fmt.Errorf("model %s is outside the models directory %s", hostPath, k.modelsDir)
	}
	dir := ModelsDir
	if k.models.Image != "" {
		dir = k.models.Image
	}
	return path.Join(dir, filepath.ToSlash(rel)), nil
}

// modelsVolume is the models volume's source; none when the models are
// in the image.
func (k *Kubernetes) modelsVolume() (corev1.VolumeSource, bool) {
	switch {
	case k.models.HostPath != "":
		return corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: k.models.HostPath, Type: ptr.To(corev1.HostPathDirectory)}}, true
	case k.models.Claim != "":
		return corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
			ClaimName: k.models.Claim, ReadOnly: true}}, true
	}
	return corev1.VolumeSource{}, false
}

// dataVolume holds the chat history: a claim or a node directory both
// colors share (the conversation follows a deploy), or else an emptyDir
// of the pod's own.
func (k *Kubernetes) dataVolume() corev1.Volume {
	v := corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	switch {
	case k.data == nil:
	case k.data.HostPath != "":
		v.VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: k.data.HostPath, Type: ptr.To(corev1.HostPathDirectoryOrCreate)}}
	case k.data.Claim != "":
		v.VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
			ClaimName: k.data.Claim}}
	}
	return v
}

// templateHash identifies everything that shapes a color's pods, so Start
// adopts a Deployment only when it is exactly what was asked for.
func templateHash(s appsv1.DeploymentSpec) string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

package spec

import (
	"path"
	"regexp"
	"strings"
)

// Kubernetes is spec.kubernetes: where runtime kubernetes runs the colors,
// and where their pods find the model files and the chat history.
//
//	kubernetes:
//	  namespace: zdml                 # default "default"
//	  kubeconfig: /etc/zdml/kubeconfig # absent: the in-cluster service account
//	  service: chat                   # the stable Service; default metadata.name
//	  models: {hostPath: /srv/models} # or {claim: models} or {image: /models}
//	  data: {claim: chat-data}        # optional; default: an emptyDir per pod
type Kubernetes struct {
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Kubeconfig is a kubeconfig file (its current context); empty means
	// the in-cluster config of the reconciler's own pod.
	Kubeconfig string `yaml:"kubeconfig,omitempty" json:"kubeconfig,omitempty"`
	// Service is the stable Service whose selector the swap moves from
	// one color to the other; clients reach the model through it.
	Service string      `yaml:"service,omitempty" json:"service,omitempty"`
	Models  KubeVolume  `yaml:"models" json:"models"`
	Data    *KubeVolume `yaml:"data,omitempty" json:"data,omitempty"`
}

// KubeVolume is where a directory of a color's pod comes from: exactly one
// of a directory on the node (HostPath), a PersistentVolumeClaim in the
// namespace (Claim), or, for the models only, a directory inside spec.image
// itself (Image).
type KubeVolume struct {
	HostPath string `yaml:"hostPath,omitempty" json:"hostPath,omitempty"`
	Claim    string `yaml:"claim,omitempty" json:"claim,omitempty"`
	Image    string `yaml:"image,omitempty" json:"image,omitempty"`
}

// DefaultNamespace is spec.kubernetes.namespace when it is left out.
const DefaultNamespace = "default"

// MaxKubeAppName is the longest metadata.name runtime kubernetes accepts:
// its objects are named <name>-green, and a Service name has at most 63
// characters.
const MaxKubeAppName = 63 - len("-green")

var (
	// dns1035RE is a Service name (RFC 1035 label).
	dns1035RE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	// dns1123LabelRE is a namespace name (RFC 1123 label).
	dns1123LabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// dns1123SubdomainRE is a PersistentVolumeClaim name.
	dns1123SubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// setKubernetesDefaults fills the namespace and the stable Service's name.
func (d *Document) setKubernetesDefaults() {
	k := d.Spec.Kubernetes
	if k == nil {
		return
	}
	setString(d, "spec.kubernetes.namespace", &k.Namespace, DefaultNamespace)
	setString(d, "spec.kubernetes.service", &k.Service, d.Metadata.Name)
}

// kubernetes validates spec.kubernetes: it belongs to runtime kubernetes,
// which needs it, and every name in it must be one Kubernetes accepts.
func (v *validator) kubernetes() {
	s := v.doc.Spec
	k := s.Kubernetes
	if s.Runtime != RuntimeKubernetes {
		if k != nil {
			v.fail("spec.kubernetes", "applies only to runtime %s", RuntimeKubernetes)
		}
		return
	}
	if s.Strategy.Type == StrategyCanary {
		v.fail("spec.strategy.type", "strategy %s is not supported on runtime %s yet (a Service has no weights: docs/kubernetes.md)", StrategyCanary, RuntimeKubernetes)
	}
	if n := v.doc.Metadata.Name; n != "" && !kubeName(n, MaxKubeAppName) {
		v.fail("metadata.name", "%q is not a Kubernetes name (runtime %s names its objects <name>-blue and <name>-green: want a-z, 0-9 and -, starting with a letter, at most %d characters)",
			n, RuntimeKubernetes, MaxKubeAppName)
	}
	if k == nil {
		if !v.badUnder("spec.kubernetes") {
			v.fail("spec.kubernetes", "required for runtime %s (at least models: {hostPath: ...}, {claim: ...} or {image: ...})", RuntimeKubernetes)
		}
		return
	}
	if !dns1123LabelRE.MatchString(k.Namespace) || len(k.Namespace) > 63 {
		v.fail("spec.kubernetes.namespace", "%q is not a namespace name (a-z, 0-9 and -, at most 63 characters)", k.Namespace)
	}
	if v.doc.written("spec.kubernetes.kubeconfig") && (strings.TrimSpace(k.Kubeconfig) == "" || strings.IndexFunc(k.Kubeconfig, notPrintable) >= 0) {
		v.fail("spec.kubernetes.kubeconfig", "%q: want a kubeconfig file's path, or leave it out for the in-cluster config", k.Kubeconfig)
	}
	v.kubeService(k.Service)
	v.kubeVolume("spec.kubernetes.models", k.Models, true)
	if k.Data != nil {
		v.kubeVolume("spec.kubernetes.data", *k.Data, false)
	}
}

func (v *validator) kubeService(name string) {
	app := v.doc.Metadata.Name
	switch {
	case !kubeName(name, 63):
		v.fail("spec.kubernetes.service", "%q is not a Service name (a-z, 0-9 and -, starting with a letter, at most 63 characters)", name)
	case name == app+"-"+string(Blue) || name == app+"-"+string(Green):
		v.fail("spec.kubernetes.service", "%q is the name of a color's own Service; choose another", name)
	}
}

// kubeVolume checks that a volume names exactly one source, and a valid one.
func (v *validator) kubeVolume(field string, vol KubeVolume, models bool) {
	if v.badUnder(field) {
		return
	}
	want := "hostPath or claim"
	if models {
		want = "hostPath, claim or image"
	}
	set := 0
	for _, s := range []string{vol.HostPath, vol.Claim, vol.Image} {
		if s != "" {
			set++
		}
	}
	if set != 1 || (!models && vol.Image != "") {
		v.fail(field, "want exactly one of %s", want)
		return
	}
	switch {
	case vol.HostPath != "" && !cleanAbs(vol.HostPath):
		v.fail(field+".hostPath", "%q: want an absolute, clean directory path on the node", vol.HostPath)
	case vol.Claim != "" && (!dns1123SubdomainRE.MatchString(vol.Claim) || len(vol.Claim) > 253):
		v.fail(field+".claim", "%q is not a PersistentVolumeClaim name (a-z, 0-9, - and .)", vol.Claim)
	case vol.Image != "" && !cleanAbs(vol.Image):
		v.fail(field+".image", "%q: want the absolute, clean path of the models directory inside spec.image", vol.Image)
	}
}

// kubeName is a Service-style name (RFC 1035 label) of at most max bytes.
func kubeName(s string, max int) bool { return len(s) <= max && dns1035RE.MatchString(s) }

func cleanAbs(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p && strings.IndexFunc(p, notPrintable) < 0
}

// Source names a volume's source for messages: "hostPath /srv/models".
func (k KubeVolume) Source() string {
	switch {
	case k.HostPath != "":
		return "hostPath " + k.HostPath
	case k.Claim != "":
		return "claim " + k.Claim
	case k.Image != "":
		return "image " + k.Image
	}
	return "none"
}

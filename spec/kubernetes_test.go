package spec

import (
	"strings"
	"testing"
)

// kubeDoc is a valid runtime kubernetes desired.yaml; the bad cases below
// edit it.
const kubeDoc = `apiVersion: zdml/v1
kind: ModelDeployment
metadata: {name: chat}
spec:
  model: {name: demo, version: v1, path: models/demo-v1.gguf}
  runtime: kubernetes
  image: zdml/modelserver:local
  kubernetes:
    namespace: llm
    kubeconfig: /etc/zdml/kubeconfig
    service: chat-public
    models: {hostPath: /srv/zdml/models}
    data: {claim: chat-data}
`

func TestParseKubernetes(t *testing.T) {
	doc, err := Parse("desired.yaml", []byte(kubeDoc))
	if err != nil {
		t.Fatal(err)
	}
	k := doc.Spec.Kubernetes
	want := Kubernetes{Namespace: "llm", Kubeconfig: "/etc/zdml/kubeconfig", Service: "chat-public",
		Models: KubeVolume{HostPath: "/srv/zdml/models"}, Data: k.Data}
	if k == nil || *k != want || k.Data == nil || *k.Data != (KubeVolume{Claim: "chat-data"}) {
		t.Fatalf("spec.kubernetes = %+v, want %+v with data {claim: chat-data}", k, want)
	}
}

// TestKubernetesDefaults: the namespace defaults to "default", the stable
// Service to metadata.name, the data volume to none (an emptyDir), and no
// kubeconfig means the in-cluster config.
func TestKubernetesDefaults(t *testing.T) {
	text := strings.Replace(kubeDoc, "    namespace: llm\n    kubeconfig: /etc/zdml/kubeconfig\n    service: chat-public\n", "", 1)
	text = strings.Replace(text, "    data: {claim: chat-data}\n", "", 1)
	doc, err := Parse("desired.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	got := *doc.Spec.Kubernetes
	want := Kubernetes{Namespace: DefaultNamespace, Service: "chat", Models: KubeVolume{HostPath: "/srv/zdml/models"}}
	if got != want {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}
}

func TestParseKubernetesBad(t *testing.T) {
	tests := []struct {
		name, from, to, want string
	}{
		{name: "no kubernetes section", from: "  kubernetes:\n    namespace: llm\n    kubeconfig: /etc/zdml/kubeconfig\n    service: chat-public\n    models: {hostPath: /srv/zdml/models}\n    data: {claim: chat-data}\n", to: "",
			want: "desired.yaml:4: spec.kubernetes: required for runtime kubernetes (at least models: {hostPath: ...}, {claim: ...} or {image: ...})"},
		{name: "no image", from: "  image: zdml/modelserver:local\n", to: "",
			want: "desired.yaml:4: spec.image: required for runtime kubernetes"},
		{name: "section with runtime docker", from: "runtime: kubernetes", to: "runtime: docker",
			want: "desired.yaml:8: spec.kubernetes: applies only to runtime kubernetes"},
		{name: "app name not a Kubernetes name", from: "name: chat}", to: "name: Chat_1}",
			want: `desired.yaml:3: metadata.name: "Chat_1" is not a Kubernetes name (runtime kubernetes names its objects <name>-blue and <name>-green: want a-z, 0-9 and -, starting with a letter, at most 57 characters)`},
		{name: "app name too long", from: "name: chat}", to: "name: " + strings.Repeat("a", 58) + "}",
			want: `desired.yaml:3: metadata.name: "` + strings.Repeat("a", 58) + `" is not a Kubernetes name (runtime kubernetes names its objects <name>-blue and <name>-green: want a-z, 0-9 and -, starting with a letter, at most 57 characters)`},
		{name: "bad namespace", from: "namespace: llm", to: "namespace: LLM.prod",
			want: `desired.yaml:9: spec.kubernetes.namespace: "LLM.prod" is not a namespace name (a-z, 0-9 and -, at most 63 characters)`},
		{name: "empty kubeconfig", from: "kubeconfig: /etc/zdml/kubeconfig", to: `kubeconfig: ""`,
			want: `desired.yaml:10: spec.kubernetes.kubeconfig: "": want a kubeconfig file's path, or leave it out for the in-cluster config`},
		{name: "bad service", from: "service: chat-public", to: "service: 1chat",
			want: `desired.yaml:11: spec.kubernetes.service: "1chat" is not a Service name (a-z, 0-9 and -, starting with a letter, at most 63 characters)`},
		{name: "service named as a color", from: "service: chat-public", to: "service: chat-green",
			want: `desired.yaml:11: spec.kubernetes.service: "chat-green" is the name of a color's own Service; choose another`},
		{name: "two model sources", from: "{hostPath: /srv/zdml/models}", to: "{hostPath: /srv/zdml/models, claim: models}",
			want: "desired.yaml:12: spec.kubernetes.models: want exactly one of hostPath, claim or image"},
		{name: "no model source", from: "{hostPath: /srv/zdml/models}", to: "{}",
			want: "desired.yaml:12: spec.kubernetes.models: want exactly one of hostPath, claim or image"},
		{name: "relative hostPath", from: "{hostPath: /srv/zdml/models}", to: "{hostPath: models}",
			want: `desired.yaml:12: spec.kubernetes.models.hostPath: "models": want an absolute, clean directory path on the node`},
		{name: "unclean hostPath", from: "{hostPath: /srv/zdml/models}", to: "{hostPath: /srv/../etc}",
			want: `desired.yaml:12: spec.kubernetes.models.hostPath: "/srv/../etc": want an absolute, clean directory path on the node`},
		{name: "bad claim", from: "{claim: chat-data}", to: "{claim: Chat_Data}",
			want: `desired.yaml:13: spec.kubernetes.data.claim: "Chat_Data" is not a PersistentVolumeClaim name (a-z, 0-9, - and .)`},
		{name: "data from the image", from: "{claim: chat-data}", to: "{image: /data}",
			want: "desired.yaml:13: spec.kubernetes.data: want exactly one of hostPath or claim"},
		{name: "relative image dir", from: "{hostPath: /srv/zdml/models}", to: "{image: models}",
			want: `desired.yaml:12: spec.kubernetes.models.image: "models": want the absolute, clean path of the models directory inside spec.image`},
		{name: "canary", from: "  runtime: kubernetes\n", to: "  strategy: {type: canary, steps: [{setWeight: 10}]}\n  runtime: kubernetes\n",
			want: "desired.yaml:6: spec.strategy.type: strategy canary is not supported on runtime kubernetes yet (a Service has no weights: docs/kubernetes.md)"},
		{name: "unknown field", from: "namespace: llm", to: "namespace: llm\n    replicas: 3",
			want: "desired.yaml:10: spec.kubernetes.replicas: unknown field (want one of namespace, kubeconfig, service, models, data)"},
		{name: "volume as text", from: "{hostPath: /srv/zdml/models}", to: "/srv/zdml/models",
			want: `desired.yaml:12: spec.kubernetes.models: want a mapping of fields, got "/srv/zdml/models"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(kubeDoc, tt.from, tt.to, 1)
			if text == kubeDoc {
				t.Fatalf("%q not found in the document", tt.from)
			}
			_, err := Parse("desired.yaml", []byte(text))
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestKubernetesHash: the image and every part of spec.kubernetes are part
// of the desired state (a new models volume is a new deployment), and a
// spec survives state.json's JSON round trip.
func TestKubernetesHash(t *testing.T) {
	base, err := Parse("desired.yaml", []byte(kubeDoc))
	if err != nil {
		t.Fatal(err)
	}
	for _, edit := range [][2]string{
		{"image: zdml/modelserver:local", "image: zdml/modelserver:v2"},
		{"namespace: llm", "namespace: llm2"},
		{"{hostPath: /srv/zdml/models}", "{claim: models}"},
		{"{claim: chat-data}", "{hostPath: /srv/chat}"},
	} {
		doc, err := Parse("desired.yaml", []byte(strings.Replace(kubeDoc, edit[0], edit[1], 1)))
		if err != nil {
			t.Fatal(err)
		}
		if doc.Spec.Hash() == base.Spec.Hash() {
			t.Errorf("%s -> %s: same spec hash", edit[0], edit[1])
		}
	}
}

package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/zero-downtime-ml/zdml/modelserver/modelclient"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

var _ driver.Driver = (*Kubernetes)(nil)

// Labels and annotations on every object the driver makes. Ownership is by
// label (Nomad's reconcile_dangling, Argo Rollouts): the driver adopts,
// replaces and scales only what carries managed-by zdml and its own app as
// instance. The annotations say what a Deployment runs and which deploy
// made it.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by" // "zdml"
	LabelInstance  = "app.kubernetes.io/instance"   // the app (metadata.name): the owner
	LabelName      = "app.kubernetes.io/name"       // "modelserver"
	LabelColor     = "zdml.dev/color"               // blue or green; absent on the stable Service

	AnnotationVersion  = "zdml.dev/version"
	AnnotationModel    = "zdml.dev/model"
	AnnotationConfig   = "zdml.dev/config-hash"   // Instance.ConfigHash, reported back in Status
	AnnotationTemplate = "zdml.dev/template-hash" // hash of the pod template the driver built
	AnnotationDeployID = "zdml.dev/deploy-id"
	AnnotationSpecHash = "zdml.dev/spec-hash"

	ManagedBy = "zdml"
	AppName   = "modelserver"
)

// Pod and port settings.
const (
	// ContainerName is the model server's container in a color's pod.
	ContainerName = "modelserver"
	// ContainerPort is where the model server listens in its pod.
	ContainerPort = 8000
	// PortName names the container port and every Service port.
	PortName = "http"
	// ServicePort is the port of the per-color and stable Services.
	ServicePort = 80
	// ModelsDir is where the models volume is mounted (hostPath or claim).
	ModelsDir = "/models"
	// DataDir holds the chat history database.
	DataDir = "/data"
	// RunAsUser is the model-server image's user (docker/modelserver.Dockerfile).
	RunAsUser = 65532
)

// DefaultCallTimeout bounds each single API call.
const DefaultCallTimeout = 15 * time.Second

// ErrNotOwned is returned when an object this driver would use exists and
// does not carry its owner labels: it is never changed.
var ErrNotOwned = errors.New("object not owned by this reconciler")

// Kubernetes runs each color as a Deployment <app>-<color> in one
// namespace, through client-go. It is safe for concurrent use.
type Kubernetes struct {
	client      k8s.Interface
	rest        *rest.Config
	namespace   string
	app         string
	service     string
	models      spec.KubeVolume
	data        *spec.KubeVolume
	modelsDir   string // the reconciler's models directory; Instance.ModelPath is under it
	callTimeout time.Duration
	preStop     time.Duration
	log         *slog.Logger
	transport   http.RoundTripper   // the API server's, authenticated as the driver
	server      *modelclient.Client // reaches pods and Services through the API server's proxy
}

// Option configures New.
type Option func(*Kubernetes)

// WithRESTConfig uses c instead of spec.kubernetes.kubeconfig or the
// in-cluster config.
func WithRESTConfig(c *rest.Config) Option {
	return func(k *Kubernetes) { k.rest = rest.CopyConfig(c) }
}

// WithCallTimeout bounds every single API call.
func WithCallTimeout(t time.Duration) Option { return func(k *Kubernetes) { k.callTimeout = t } }

// WithPreStop is how long a terminating pod keeps serving before it gets
// SIGTERM (its preStop sleep), so that kube-proxy and every other
// load balancer stop sending it new connections first; default
// DefaultPreStop.
func WithPreStop(d time.Duration) Option { return func(k *Kubernetes) { k.preStop = d } }

// New returns the Kubernetes driver for cfg.App's colors, configured by
// cfg.Kubernetes (desired.yaml's spec.kubernetes): its kubeconfig file, or
// the in-cluster config when it names none; its namespace; the stable
// Service; the models and data volumes. cfg.ModelsDir is the models
// directory Instance.ModelPath lives in, which the models volume mirrors.
func New(cfg driver.Config, opts ...Option) (*Kubernetes, error) {
	if cfg.Kubernetes == nil {
		return nil, errors.New("kubernetes driver: no spec.kubernetes section")
	}
	if cfg.App == "" {
		return nil, errors.New("kubernetes driver: no app name (metadata.name)")
	}
	ks := cfg.Kubernetes
	k := &Kubernetes{
		namespace: ks.Namespace, app: cfg.App, service: ks.Service, models: ks.Models, data: ks.Data,
		modelsDir: cfg.ModelsDir, callTimeout: DefaultCallTimeout, preStop: DefaultPreStop, log: cfg.Log,
	}
	if k.namespace == "" {
		k.namespace = spec.DefaultNamespace
	}
	if k.service == "" {
		k.service = cfg.App
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	for _, o := range opts {
		o(k)
	}
	if k.rest == nil {
		c, err := restConfig(ks.Kubeconfig)
		if err != nil {
			return nil, err
		}
		k.rest = c
	}
	// The driver polls while a deploy waits (Inspect, EndpointSlices):
	// client-go's default 5 requests per second would throttle it.
	k.rest.QPS, k.rest.Burst = 50, 100
	client, err := k8s.NewForConfig(k.rest)
	if err != nil {
		return nil, fmt.Errorf("kubernetes driver: %w", err)
	}
	rt, err := rest.TransportFor(k.rest)
	if err != nil {
		return nil, fmt.Errorf("kubernetes driver: transport: %w", err)
	}
	k.client, k.transport, k.server = client, rt, modelclient.New(modelclient.WithTransport(rt))
	k.log = k.log.With("driver", "kubernetes", "namespace", k.namespace, "app", k.app)
	return k, nil
}

// restConfig loads a kubeconfig file, or the in-cluster config without one.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes driver: in-cluster config (set spec.kubernetes.kubeconfig outside a cluster): %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubernetes driver: kubeconfig %s: %w", kubeconfig, err)
	}
	return c, nil
}

// Name is the runtime name in desired.yaml.
func (k *Kubernetes) Name() string { return spec.RuntimeKubernetes }

// Namespace is where the colors run.
func (k *Kubernetes) Namespace() string { return k.namespace }

// ObjectName is the name of a color's Deployment and of its own Service.
func (k *Kubernetes) ObjectName(c spec.Color) string { return k.app + "-" + string(c) }

// Client is the model-server client for this runtime's addresses (Addr,
// Status.Addr): it goes through the API server with the driver's
// credentials. The reconciler's gates, drain and checks use it for a color
// this driver runs, where they use a plain modelclient.New() for the others.
func (k *Kubernetes) Client() *modelclient.Client { return k.server }

// HTTPClient is a plain HTTP client for the same addresses, for callers
// that take an *http.Client rather than a modelclient (the quality gate,
// quality.WithHTTPClient). It shares Client's transport.
func (k *Kubernetes) HTTPClient() *http.Client { return &http.Client{Transport: k.transport} }

// Addr is color c's address as the reconciler reaches it: the base URL of
// its own Service through the API server's service proxy,
// https://<apiserver>/api/v1/namespaces/<ns>/services/<app>-<c>:http/proxy.
// The reconciler puts it in Instance.Addr, so that an adopted color's
// address matches the one asked for.
func (k *Kubernetes) Addr(c spec.Color) string {
	return k.client.CoreV1().RESTClient().Get().Namespace(k.namespace).Resource("services").
		Name(k.ObjectName(c) + ":" + PortName).SubResource("proxy").URL().String()
}

// podAddr is one pod's base URL through the API server's pod proxy.
func (k *Kubernetes) podAddr(pod string) string {
	return k.client.CoreV1().RESTClient().Get().Namespace(k.namespace).Resource("pods").
		Name(fmt.Sprintf("%s:%d", pod, ContainerPort)).SubResource("proxy").URL().String()
}

// Reachable checks that the API server answers (the reconciler's Recover
// skips an unreachable runtime that state.json does not name).
func (k *Kubernetes) Reachable(ctx context.Context) error {
	ctx, cancel := k.call(ctx)
	defer cancel()
	if _, err := k.client.Discovery().RESTClient().Get().AbsPath("/version").DoRaw(ctx); err != nil {
		return fmt.Errorf("kubernetes api server %s: %w", k.rest.Host, wrap("get /version", err))
	}
	return nil
}

// call bounds one API call.
func (k *Kubernetes) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, k.callTimeout)
}

// ownerLabels are the labels of every object of this app.
func (k *Kubernetes) ownerLabels() map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelInstance: k.app, LabelName: AppName}
}

// selector selects color c's pods.
func (k *Kubernetes) selector(c spec.Color) map[string]string {
	l := k.ownerLabels()
	delete(l, LabelManagedBy) // selectors are immutable: keep them to what identifies a pod
	l[LabelColor] = string(c)
	return l
}

// owns reports whether labels carry this app's ownership.
func (k *Kubernetes) owns(labels map[string]string) bool {
	return labels[LabelManagedBy] == ManagedBy && labels[LabelInstance] == k.app
}

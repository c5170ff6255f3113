package reconciler

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/zero-downtime-ml/zdml/modelserver/modelclient"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/docker"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/process"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Runtimes are the runtimes a reconciler drives, in the order Recover asks
// them for colors left running. Runtime kubernetes is asked only when a
// revision in state.json configures it (spec.kubernetes).
var Runtimes = []string{spec.RuntimeProcess, spec.RuntimeDocker, spec.RuntimeKubernetes}

// NewDriver builds the driver of a runtime named as desired.yaml names it
// (spec.runtime): the process driver, the Docker driver configured from
// cfg and the environment (see docker.NewFromEnv), or the Kubernetes
// driver configured by cfg.Kubernetes (spec.kubernetes) and kube.
func NewDriver(runtime string, cfg driver.Config, kube ...kubernetes.Option) (driver.Driver, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	switch runtime {
	case spec.RuntimeProcess:
		return process.New(cfg)
	case spec.RuntimeDocker:
		return docker.NewFromEnv(cfg, os.Getenv)
	case spec.RuntimeKubernetes:
		return kubernetes.New(cfg, kube...)
	}
	return nil, fmt.Errorf("runtime %q: no such driver (want %s, %s or %s)", runtime, spec.RuntimeProcess, spec.RuntimeDocker,
		spec.RuntimeKubernetes)
}

var (
	_ reachable = (*docker.Docker)(nil)
	_ reachable = (*kubernetes.Kubernetes)(nil)
	_ addressed = (*kubernetes.Kubernetes)(nil)
)

// addressed is implemented by drivers that say where each color is
// reached, with their own client: runtime kubernetes reaches a color
// through the API server's service proxy, with the driver's credentials.
// The gates (ready, warm-up, quality), the drain and the checks use them
// for that runtime's colors.
type addressed interface {
	Addr(c spec.Color) string
	Client() *modelclient.Client
}

// clientFor is the model-server client that reaches color c: its driver's
// own (addressed), or a plain one.
func (r *Reconciler) clientFor(c spec.Color) *modelclient.Client {
	if drv, err := r.colorDriver(c); err == nil {
		if a, ok := drv.(addressed); ok {
			return a.Client()
		}
	}
	return r.client
}

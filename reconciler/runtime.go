package reconciler

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/docker"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/process"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Runtimes are the runtimes a reconciler drives, in the order Recover asks
// them for colors left running.
var Runtimes = []string{spec.RuntimeProcess, spec.RuntimeDocker}

// NewDriver builds the driver of a runtime named as desired.yaml names it
// (spec.runtime): the process driver, or the Docker driver configured from
// cfg and the environment (see docker.NewFromEnv).
func NewDriver(runtime string, cfg driver.Config) (driver.Driver, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	switch runtime {
	case spec.RuntimeProcess:
		return process.New(cfg)
	case spec.RuntimeDocker:
		return docker.NewFromEnv(cfg, os.Getenv)
	}
	return nil, fmt.Errorf("runtime %q: no such driver (want %s or %s)", runtime, spec.RuntimeProcess, spec.RuntimeDocker)
}

var _ reachable = (*docker.Docker)(nil)

package driver

import (
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Instance is everything a driver needs to run one color of the model server.
type Instance struct {
	Color        spec.Color
	Addr         string // host:port the model server listens on, as nginx reaches it
	ModelName    string
	ModelVersion string
	ModelPath    string // absolute path on the host
	ModelSHA256  string
	Image        string // runtimes docker and kubernetes
	Threads      int
	Parallel     int
	Ctx          int
	Memory       spec.Quantity
	CPUs         float64
	// Priority is the CPU priority to start with: PriorityLow while the
	// standby loads its model, so the active color keeps serving.
	Priority Priority
	// ShutdownTimeout is how long the model server may take to finish its
	// in-flight requests after SIGTERM (--shutdown-timeout): the spec's
	// drainTimeout plus ShutdownMargin (ShutdownTimeoutFor).
	ShutdownTimeout time.Duration
	// ConfigHash is the reconciler's opaque identity of everything above
	// that needs a restart when it changes (model, resources, image). A
	// driver stores it with the instance (instance.json, a container label)
	// and reports it back in Status, so that a restarted reconciler knows
	// what each color runs, and Start adopts a color only when it matches.
	ConfigHash string
	// DeployID and SpecHash name the deploy that started the instance and
	// its desired state; runtime kubernetes records them on the color's
	// Deployment, so the cluster's objects say which deploy made them.
	DeployID string
	SpecHash string
}

// Status is what a driver observes about one color.
type Status struct {
	Color   spec.Color
	Running bool
	// ID is the pid or container id.
	ID   string
	Addr string
	// InstanceID is the model server's own identity, from /health/deep. It
	// tells an adopted process from a stranger that reused its pid or port.
	InstanceID   string
	ModelVersion string
	StartedAt    time.Time
	Priority     Priority
	// ConfigHash is Instance.ConfigHash of the running instance ("" when
	// unknown, e.g. a stranger on the port).
	ConfigHash string
	// ExitErr says why it stopped, when it did: the exit status and the
	// tail of its log, so a failed start is explained where it is reported.
	ExitErr string
	// Unplaced says, for a color that is not running, that the runtime has
	// nowhere to run it yet (a pod no node has room for: the scheduler's
	// message, also in ExitErr): the environment's fault, which may pass
	// (a color stopping, a node added), not the spec's.
	Unplaced string
}

// ShutdownMargin is what a color's shutdown timeout adds to the spec's
// drainTimeout: a request that started just before the color was told to
// stop, and fits in drainTimeout, still finishes.
const ShutdownMargin = 10 * time.Second

// ShutdownTimeoutFor is the Instance.ShutdownTimeout for a spec's
// drainTimeout.
func ShutdownTimeoutFor(drain time.Duration) time.Duration { return drain + ShutdownMargin }

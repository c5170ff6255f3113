package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
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
	Image        string // runtime docker only
	Threads      int
	Parallel     int
	Ctx          int
	Memory       spec.Quantity
	CPUs         float64
	// Priority is the CPU priority to start with: PriorityLow while the
	// standby loads its model, so the active color keeps serving.
	Priority Priority
	// ShutdownTimeout is how long the model server may take to finish its
	// in-flight requests after SIGTERM (--shutdown-timeout).
	ShutdownTimeout time.Duration
	// ConfigHash is the reconciler's opaque identity of everything above
	// that needs a restart when it changes (model, resources, image). A
	// driver stores it with the instance (instance.json, a container label)
	// and reports it back in Status, so that a restarted reconciler knows
	// what each color runs, and Start adopts a color only when it matches.
	ConfigHash string
}

// Priority is a color's CPU priority relative to the other color.
type Priority int

const (
	PriorityNormal Priority = iota
	PriorityLow
)

func (p Priority) String() string {
	if p == PriorityLow {
		return "low"
	}
	return "normal"
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
}

// Driver runs model-server colors on one runtime (local processes, Docker).
// Every method observes before it acts, so calling one twice is harmless.
type Driver interface {
	// Name is the runtime name from desired.yaml: "process" or "docker".
	Name() string
	// Start runs inst; if that color already runs the same version it is adopted.
	Start(ctx context.Context, inst Instance) (Status, error)
	// Stop stops a color gracefully: SIGTERM, then a kill after timeout.
	Stop(ctx context.Context, color spec.Color, timeout time.Duration) error
	// Inspect observes one color without changing it.
	Inspect(ctx context.Context, color spec.Color) (Status, error)
	// SetPriority changes a running color's CPU priority.
	SetPriority(ctx context.Context, color spec.Color, p Priority) error
	// Recover re-attaches to instances left by an earlier reconciler and
	// removes orphans this project owns (never anything else).
	Recover(ctx context.Context) ([]Status, error)
}

// DriverConfig is what every driver constructor receives.
type DriverConfig struct {
	// StateDir is the reconciler's state directory; a driver keeps its
	// per-color files under StateDir/colors/<color>/.
	StateDir string
	// Modelserver is the model-server binary (runtime process).
	Modelserver string
	// ModelsDir is the models directory (zdml reconcile --models-dir) that
	// desired.yaml's model paths resolve in; the Docker driver bind-mounts
	// it read-only into each color.
	ModelsDir string
	// Log is the logger to use; never nil.
	Log *slog.Logger
}

// DriverFactory builds a Driver for one runtime.
type DriverFactory func(cfg DriverConfig) (Driver, error)

var (
	driversMu sync.Mutex
	drivers   = map[string]DriverFactory{}
)

// RegisterDriver makes a runtime available by the name desired.yaml uses
// (spec.runtime). Drivers register themselves from init in their own file.
func RegisterDriver(name string, f DriverFactory) {
	driversMu.Lock()
	defer driversMu.Unlock()
	drivers[name] = f
}

// NewDriver builds the driver registered for runtime name.
func NewDriver(name string, cfg DriverConfig) (Driver, error) {
	driversMu.Lock()
	f, ok := drivers[name]
	driversMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("runtime %q: no such driver (have %s)", name, strings.Join(DriverNames(), ", "))
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return f(cfg)
}

// DriverNames lists the registered runtimes, sorted.
func DriverNames() []string {
	driversMu.Lock()
	defer driversMu.Unlock()
	out := make([]string, 0, len(drivers))
	for n := range drivers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

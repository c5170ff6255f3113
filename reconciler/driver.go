package reconciler

import (
	"context"
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
	// standby loads and warms, so the active color keeps serving.
	Priority Priority
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
	ExitErr      string // why it stopped, when it did
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

package driver

import (
	"context"
	"log/slog"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Driver runs model-server colors on one runtime (local processes, Docker).
// Every method observes before it acts, so calling one twice is harmless.
type Driver interface {
	// Name is the runtime name from desired.yaml: "process", "docker" or
	// "kubernetes".
	Name() string
	// Start runs inst; if that color already runs the same version it is adopted.
	Start(ctx context.Context, inst Instance) (Status, error)
	// Stop stops a color gracefully: SIGTERM, then a kill after timeout.
	// Once sent, the stop is bounded by timeout alone: when ctx ends first,
	// Stop may return ctx's error, but the color keeps shutting down
	// gracefully; it is never killed because its caller went away.
	Stop(ctx context.Context, color spec.Color, timeout time.Duration) error
	// Inspect observes one color without changing it.
	Inspect(ctx context.Context, color spec.Color) (Status, error)
	// SetPriority changes a running color's CPU priority.
	SetPriority(ctx context.Context, color spec.Color, p Priority) error
	// Recover re-attaches to instances left by an earlier reconciler and
	// removes orphans this project owns (never anything else).
	Recover(ctx context.Context) ([]Status, error)
}

// Config is what every driver constructor receives.
type Config struct {
	// StateDir is the reconciler's state directory; a driver keeps its
	// per-color files under StateDir/colors/<color>/.
	StateDir string
	// Modelserver is the model-server binary (runtime process).
	Modelserver string
	// ModelsDir is the models directory (zdml reconcile --models-dir) that
	// desired.yaml's model paths resolve in; the Docker driver bind-mounts
	// it read-only into each color.
	ModelsDir string
	// Log is the logger to use; nil discards.
	Log *slog.Logger
	// App is desired.yaml's metadata.name; runtime kubernetes names its
	// objects after it (<app>-blue, <app>-green) and owns them by it.
	App string
	// Kubernetes is desired.yaml's spec.kubernetes (runtime kubernetes).
	Kubernetes *spec.Kubernetes
}

// ChatDBFile is the chat history database both colors share, in the state
// directory (or a runtime's data volume): a user's conversation follows a
// deploy from one color to the other (SQLite in WAL mode, written by both
// while they overlap).
const ChatDBFile = "chat.db"

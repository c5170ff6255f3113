package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/zero-downtime-ml/zdml/modelserver/modelclient"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

var _ driver.Driver = (*Docker)(nil)

// Labels put on every container, volume and network the Docker driver
// creates. Ownership is by label (Nomad's reconcile_dangling): the driver
// adopts and removes only what carries its own owner value.
const (
	LabelOwner   = "zdml.owner"
	LabelRole    = "zdml.role" // "modelserver"
	LabelColor   = "zdml.color"
	LabelVersion = "zdml.version"
	LabelModel   = "zdml.model"
	LabelAddr    = "zdml.addr"      // the color's address as the reconciler reaches it
	LabelConfig  = "zdml.config"    // Instance.ConfigHash, reported back in Status
	LabelShape   = "zdml.container" // hash of the container's own settings (image, flags, mounts, limits)
)

// CPU shares of a color (cgroup cpu.shares, relative weight). The standby
// loads and warms at LowCPUShares, about nice 10's weight against nice 0, so
// the active color keeps its latency while both compete for the cores.
const (
	NormalCPUShares = 1024
	LowCPUShares    = 128
)

// Docker defaults. Container names and the network default to the owner
// (zdml-<hash of the state dir>-blue), so two reconcilers on one daemon
// (two checkouts, parallel tests, a load test beside the compose stack)
// never collide; docker compose sets the prefix and network to zdml.
const (
	DefaultCallTimeout = 15 * time.Second
	// ContainerPort is the model server's port inside its container when
	// the reconciler reaches the color through a published loopback port.
	ContainerPort = 8000
	// ContainerModelsDir is where the models directory is mounted read-only.
	ContainerModelsDir = "/models"
	// ContainerDataDir holds the chat history both colors share (the
	// named volume DataVolume).
	ContainerDataDir = "/data"
)

// ErrNotOwned is returned when a container name this driver would use is
// taken by a container it does not own: it is never stopped or removed.
var ErrNotOwned = errors.New("container not owned by this reconciler")

// Docker runs each color as a container through the Docker Engine API.
// Containers are named <prefix>-<color> and labelled with the owner, so a
// restarted reconciler finds and adopts them, and removes only its own
// orphans. Every API call has its own timeout.
type Docker struct {
	api         client.APIClient
	owner       string
	prefix      string
	network     string
	modelsDir   string // host path mounted read-only at ContainerModelsDir
	modelsSrc   string // bind source as the daemon sees it (differs when the reconciler runs in a container)
	callTimeout time.Duration
	retries     int
	restart     container.RestartPolicyMode
	log         *slog.Logger
	server      *modelclient.Client // reads a running color's instance id from /health/deep

	selfName  string // this process's container, when it runs in one (ZDML_DOCKER_SELF)
	selfMu    sync.Mutex
	selfKnown bool                   // self holds the answer
	self      []container.MountPoint // mounts of the container this process runs in
}

// Option configures New.
type Option func(*Docker)

// WithClient uses c instead of a client from the environment
// (DOCKER_HOST and friends).
func WithClient(c client.APIClient) Option { return func(d *Docker) { d.api = c } }

// WithOwner sets the owner label value (see OwnerOf).
func WithOwner(owner string) Option { return func(d *Docker) { d.owner = owner } }

// WithPrefix names containers <prefix>-blue and <prefix>-green
// (default: the owner).
func WithPrefix(p string) Option { return func(d *Docker) { d.prefix = p } }

// WithNetwork attaches the colors to this user-defined bridge network,
// created (with the owner label) when missing (default: named as the owner).
func WithNetwork(n string) Option { return func(d *Docker) { d.network = n } }

// WithModelsDir is the models directory that instances' model paths
// live in; it is bind-mounted read-only, so both colors map the same file
// and share its page cache.
func WithModelsDir(dir string) Option { return func(d *Docker) { d.modelsDir = dir } }

// WithModelsSource is the models directory as the Docker daemon's
// host sees it, when it differs from WithModelsDir (the reconciler
// itself running in a container with the models mounted elsewhere).
func WithModelsSource(dir string) Option { return func(d *Docker) { d.modelsSrc = dir } }

// WithSelf names the container this reconciler runs in, whose bind
// mounts map its paths (the models directory) to the host's.
func WithSelf(name string) Option { return func(d *Docker) { d.selfName = name } }

// WithCallTimeout bounds every single Docker API call.
func WithCallTimeout(t time.Duration) Option {
	return func(d *Docker) { d.callTimeout = t }
}

// WithRetries is how many times a call is tried when the daemon
// cannot be reached (down or restarting).
func WithRetries(n int) Option { return func(d *Docker) { d.retries = n } }

// WithRestartPolicy is the restart policy of a color at normal
// priority (default unless-stopped). A low-priority standby has none: if it
// dies while loading, the deploy must see it and roll back, not a loop.
func WithRestartPolicy(p string) Option {
	return func(d *Docker) { d.restart = container.RestartPolicyMode(p) }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(d *Docker) { d.log = l } }

// New returns a Docker driver. Without WithClient it connects
// with the environment's settings and API version negotiation (the engine
// may be older than the client, e.g. 20.10 speaks API 1.41).
func New(opts ...Option) (*Docker, error) {
	d := &Docker{
		callTimeout: DefaultCallTimeout,
		retries:     3,
		restart:     container.RestartPolicyUnlessStopped,
		log:         slog.New(slog.NewJSONHandler(io.Discard, nil)),
		server:      modelclient.New(),
	}
	for _, o := range opts {
		o(d)
	}
	if d.api == nil {
		c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, fmt.Errorf("docker client: %w", err)
		}
		d.api = c
	}
	if d.owner == "" {
		return nil, errors.New("docker driver: an owner is required (WithOwner)")
	}
	if d.prefix == "" {
		d.prefix = d.owner
	}
	if d.network == "" {
		d.network = d.owner
	}
	if d.modelsDir != "" {
		abs, err := filepath.Abs(d.modelsDir)
		if err != nil {
			return nil, fmt.Errorf("docker driver: models dir: %w", err)
		}
		d.modelsDir = abs
	}
	if d.retries < 1 {
		d.retries = 1
	}
	d.log = d.log.With("driver", "docker", "owner", d.owner)
	return d, nil
}

// OwnerOf derives an owner label value from the state directory, so two
// checkouts on one machine never adopt or remove each other's containers.
// The host name is left out on purpose: a reconciler in a container gets a
// new one each time it is recreated, and must still find its colors.
func OwnerOf(stateDir string) string {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	sum := sha256.Sum256([]byte(abs))
	return "zdml-" + hex.EncodeToString(sum[:6])
}

// Name is the runtime name in desired.yaml.
func (d *Docker) Name() string { return spec.RuntimeDocker }

// Owner is the owner label value this driver acts for.
func (d *Docker) Owner() string { return d.owner }

// ContainerName is the name of a color's container.
func (d *Docker) ContainerName(c spec.Color) string { return d.prefix + "-" + string(c) }

// Close releases the client's connections.
func (d *Docker) Close() error { return d.api.Close() }

// NewFromEnv builds the Docker driver the reconciler uses for
// runtime docker. The owner derives from the state directory and the
// models directory is cfg.ModelsDir (each model file's own directory when
// empty); the environment may override the settings that differ when zdml
// itself runs in docker compose:
//
//	ZDML_DOCKER_OWNER          owner label value (default: from the state dir)
//	ZDML_DOCKER_PREFIX         container names <prefix>-blue, <prefix>-green (the owner)
//	ZDML_DOCKER_NETWORK        the colors' bridge network (named as the owner)
//	ZDML_DOCKER_MODELS_SOURCE  the models directory as the daemon's host sees it
//	ZDML_DOCKER_SELF           the container zdml runs in (found from its bind mounts otherwise)
//	ZDML_DOCKER_CALL_TIMEOUT   bound of one API call (15s)
//	DOCKER_HOST and friends    the daemon to talk to
func NewFromEnv(cfg driver.Config, getenv func(string) string) (*Docker, error) {
	owner := getenv("ZDML_DOCKER_OWNER")
	if owner == "" {
		owner = OwnerOf(cfg.StateDir)
	}
	opts := []Option{WithOwner(owner)}
	if cfg.ModelsDir != "" {
		opts = append(opts, WithModelsDir(cfg.ModelsDir))
	}
	if cfg.Log != nil {
		opts = append(opts, WithLogger(cfg.Log))
	}
	for env, opt := range map[string]func(string) Option{
		"ZDML_DOCKER_PREFIX":        WithPrefix,
		"ZDML_DOCKER_NETWORK":       WithNetwork,
		"ZDML_DOCKER_MODELS_SOURCE": WithModelsSource,
		"ZDML_DOCKER_SELF":          WithSelf,
	} {
		if v := getenv(env); v != "" {
			opts = append(opts, opt(v))
		}
	}
	if v := getenv("ZDML_DOCKER_CALL_TIMEOUT"); v != "" {
		t, err := time.ParseDuration(v)
		if err != nil || t <= 0 {
			return nil, fmt.Errorf("ZDML_DOCKER_CALL_TIMEOUT=%q: want a positive duration such as 15s", v)
		}
		opts = append(opts, WithCallTimeout(t))
	}
	return New(opts...)
}

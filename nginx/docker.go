package nginx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
)

var _ Runner = (*Docker)(nil)

// Docker defaults.
const (
	DefaultDockerImage       = "zdml/nginx:local"
	DefaultDockerName        = "zdml-nginx"
	DefaultDockerNetworkMode = "host"
	DefaultDockerMemory      = 128 << 20 // the seed's budget for nginx
	DefaultDockerCallTimeout = 10 * time.Second
)

// Labels shared with the reconciler's Docker driver (kept as strings here:
// nginx does not import the reconciler).
const (
	labelOwner   = "zdml.owner"
	labelRole    = "zdml.role"
	labelCreator = "zdml.created-by"
)

// ErrNotOwned is returned when the nginx container name is taken by a
// container another owner made: it is never signalled, stopped or removed.
var ErrNotOwned = errors.New("nginx container not owned by this reconciler")

// Docker runs nginx in a container through the Docker Engine API. Dir is
// bind-mounted at the same path inside the container (a directory, not a
// file: a rename into a single mounted file is invisible to the container),
// so the config, its relative paths, the pid file and the error log the
// Proxy reads are the same files on both sides. Reload is a SIGHUP sent with
// ContainerKill; Test runs `nginx -t` with exec in the running container, or
// in a one-off container before the first start.
//
// By default nginx shares the host's network, so the listeners and upstream
// addresses of a rendered config mean what they mean for a Local nginx. In
// docker compose, nginx is a compose service the runner adopts by name
// (WithDockerAdoptOnly), and the reconciler shares its network namespace.
type Docker struct {
	dir         string
	api         client.APIClient
	image       string
	name        string
	owner       string
	netMode     string
	memory      int64
	adoptOnly   bool
	callTimeout time.Duration
	log         *slog.Logger
}

// DockerOption configures a Docker runner.
type DockerOption func(*Docker)

// WithDockerClient uses c instead of a client from the environment.
func WithDockerClient(c client.APIClient) DockerOption { return func(d *Docker) { d.api = c } }

// WithDockerImage sets the nginx image (default $ZDML_NGINX_IMAGE, else zdml/nginx:local).
func WithDockerImage(image string) DockerOption { return func(d *Docker) { d.image = image } }

// WithDockerName sets the container name (default zdml-nginx).
func WithDockerName(name string) DockerOption { return func(d *Docker) { d.name = name } }

// WithDockerOwner sets the owner label value the container must carry.
func WithDockerOwner(owner string) DockerOption { return func(d *Docker) { d.owner = owner } }

// WithDockerNetworkMode sets the container's network mode (default host).
func WithDockerNetworkMode(m string) DockerOption { return func(d *Docker) { d.netMode = m } }

// WithDockerMemory sets the memory limit in bytes (default 128 MiB).
func WithDockerMemory(b int64) DockerOption { return func(d *Docker) { d.memory = b } }

// WithDockerAdoptOnly never creates the container: it must exist (docker
// compose made it), and Start only starts it, Stop only stops it.
func WithDockerAdoptOnly() DockerOption { return func(d *Docker) { d.adoptOnly = true } }

// WithDockerCallTimeout bounds every single Docker API call.
func WithDockerCallTimeout(t time.Duration) DockerOption {
	return func(d *Docker) { d.callTimeout = t }
}

// WithDockerLogger sets the logger.
func WithDockerLogger(l *slog.Logger) DockerOption { return func(d *Docker) { d.log = l } }

// NewDocker returns a Docker runner for the config directory dir.
func NewDocker(dir string, opts ...DockerOption) (*Docker, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("nginx dir: %w", err)
	}
	d := &Docker{
		dir: abs, image: os.Getenv("ZDML_NGINX_IMAGE"), name: DefaultDockerName,
		netMode: DefaultDockerNetworkMode, memory: DefaultDockerMemory,
		callTimeout: DefaultDockerCallTimeout, log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(d)
	}
	if d.image == "" {
		d.image = DefaultDockerImage
	}
	if d.owner == "" {
		return nil, errors.New("nginx docker runner: an owner is required (WithDockerOwner)")
	}
	if d.api == nil {
		if d.api, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation()); err != nil {
			return nil, fmt.Errorf("docker client: %w", err)
		}
	}
	d.log = d.log.With("runner", "docker", "container", d.name)
	return d, nil
}

// Dir returns the config directory.
func (d *Docker) Dir() string { return d.dir }

// Name returns the container name.
func (d *Docker) Name() string { return d.name }

// Status observes the container: running, and the master's host pid.
func (d *Docker) Status(ctx context.Context) (Status, error) {
	c, found, err := d.inspect(ctx)
	if err != nil || !found || !isRunning(c) {
		return Status{}, err
	}
	return Status{Running: true, PID: c.State.Pid, ID: "container " + shortID(c.ID)}, nil
}

// Reload sends SIGHUP to the master through the Docker API.
func (d *Docker) Reload(ctx context.Context) error {
	c, found, err := d.inspect(ctx)
	if err != nil {
		return err
	}
	if !found || !isRunning(c) {
		return ErrNotRunning
	}
	err = d.call(ctx, "kill -HUP", func(ctx context.Context) error {
		return d.api.ContainerKill(ctx, c.ID, "HUP")
	})
	if err != nil {
		return fmt.Errorf("reload nginx: %w", err)
	}
	d.log.Info("nginx reload signalled", "id", shortID(c.ID))
	return nil
}

// Stop stops nginx gracefully (its stop signal is SIGQUIT: in-flight
// requests finish) and kills it when ctx has half of its time left. A
// container this runner created is then removed.
func (d *Docker) Stop(ctx context.Context) error {
	c, found, err := d.inspect(ctx)
	if err != nil || !found {
		return err
	}
	secs := 5
	if dl, ok := ctx.Deadline(); ok {
		secs = max(0, int(time.Until(dl)/2/time.Second))
	}
	if isRunning(c) {
		err = d.callFor(ctx, "stop", time.Duration(secs)*time.Second, func(ctx context.Context) error {
			return d.api.ContainerStop(ctx, c.ID, container.StopOptions{Signal: "SIGQUIT", Timeout: &secs})
		})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("stop nginx: %w", err)
		}
		d.log.Info("nginx stopped", "id", shortID(c.ID))
	}
	if c.Config.Labels[labelCreator] == "zdml" {
		return d.remove(ctx, c.ID)
	}
	return nil
}

// Start starts nginx on Dir/nginx.conf unless it runs, and waits until the
// master has written its pid file (after binding its listeners) or exited.
func (d *Docker) Start(ctx context.Context) error {
	c, found, err := d.inspect(ctx)
	if err != nil {
		return err
	}
	if found && isRunning(c) {
		return nil
	}
	if err := d.prepareDirs(); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(d.dir, "nginx.pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("nginx pid file: %w", err) // stale: a fresh one means the new master is up
	}
	var id string
	if found {
		id = c.ID
	}
	if !found || (c.Config.Labels[labelCreator] == "zdml" && !d.sameImage(c)) {
		if found {
			if err := d.remove(ctx, c.ID); err != nil {
				return err
			}
		}
		if id, err = d.create(ctx); err != nil {
			return err
		}
	}
	err = d.call(ctx, "start", func(ctx context.Context) error {
		return d.api.ContainerStart(ctx, id, container.StartOptions{})
	})
	if err != nil {
		return fmt.Errorf("start nginx: %w", err)
	}
	return d.awaitStart(ctx, id)
}

// awaitStart polls until the pid file is written or the container exits.
func (d *Docker) awaitStart(ctx context.Context, id string) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		b, _ := os.ReadFile(filepath.Join(d.dir, "nginx.pid"))
		if len(strings.TrimSpace(string(b))) > 0 {
			d.log.Info("nginx started", "id", shortID(id), "dir", d.dir)
			return nil
		}
		c, found, err := d.inspect(ctx)
		if err != nil {
			return err
		}
		if !found || (c.State != nil && !c.State.Running && c.State.Status != "created") {
			return fmt.Errorf("start nginx: container exited: %s", d.logTail(ctx, id))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("start nginx: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// create makes the container: Dir mounted at the same path, SIGQUIT as the
// stop signal, restarted by the daemon, within nginx's memory budget.
func (d *Docker) create(ctx context.Context) (string, error) {
	if d.adoptOnly {
		return "", fmt.Errorf("nginx container %s does not exist (it belongs to docker compose: run make up)", d.name)
	}
	stop := 30
	cfg := &container.Config{
		Image:       d.image,
		Env:         []string{"ZDML_NGINX_DIR=" + d.dir},
		Labels:      map[string]string{labelOwner: d.owner, labelRole: "nginx", labelCreator: "zdml"},
		StopSignal:  "SIGQUIT",
		StopTimeout: &stop,
	}
	host := &container.HostConfig{
		NetworkMode:   container.NetworkMode(d.netMode),
		Mounts:        []mount.Mount{{Type: mount.TypeBind, Source: d.dir, Target: d.dir}},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		Resources:     container.Resources{Memory: d.memory, MemorySwap: d.memory},
		SecurityOpt:   []string{"no-new-privileges"},
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
	}
	var id string
	err := d.call(ctx, "create", func(ctx context.Context) error {
		resp, err := d.api.ContainerCreate(ctx, cfg, host, nil, nil, d.name)
		id = resp.ID
		return err
	})
	if cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("nginx image %s not found (images are built locally, never pulled: run make images): %w", d.image, err)
	}
	if err != nil {
		return "", fmt.Errorf("create nginx container: %w", err)
	}
	return id, nil
}

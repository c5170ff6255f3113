package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/docker"
)

// Nginx runtimes: how the proxy runs, chosen when the daemon starts.
const (
	NginxLocal  = "local"  // a process of this machine under <state>/nginx
	NginxDocker = "docker" // a container driven through the Docker API
	// NginxNone runs no nginx: for runtime kubernetes, whose stable
	// Service routes (a reconciler in a pod has no nginx binary).
	NginxNone = "none"
)

// NewNginxRunner returns the runner for <stateDir>/nginx by runtime. For
// docker the environment says which container (the same owner label as
// the colors, see docker.NewFromEnv):
//
//	ZDML_NGINX_CONTAINER  container name (zdml-nginx)
//	ZDML_NGINX_IMAGE      image for a container the runner creates (zdml/nginx:local)
//	ZDML_NGINX_NETWORK    network mode of a container the runner creates (host)
//	ZDML_NGINX_CREATE     false: never create it, only adopt it (docker compose made it)
func NewNginxRunner(runtime, stateDir string, getenv func(string) string, log *slog.Logger) (nginx.Runner, error) {
	dir := filepath.Join(stateDir, "nginx")
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch runtime {
	case "", NginxLocal:
		return nginx.NewLocal(dir, nginx.WithLocalLogger(log))
	case NginxNone:
		return noNginx{dir: dir}, nil
	case NginxDocker:
	default:
		return nil, fmt.Errorf("nginx runtime %q: want %s, %s or %s", runtime, NginxLocal, NginxDocker, NginxNone)
	}
	owner := getenv("ZDML_DOCKER_OWNER")
	if owner == "" {
		owner = docker.OwnerOf(stateDir)
	}
	opts := []nginx.DockerOption{nginx.WithDockerOwner(owner), nginx.WithDockerLogger(log)}
	for env, opt := range map[string]func(string) nginx.DockerOption{
		"ZDML_NGINX_CONTAINER": nginx.WithDockerName,
		"ZDML_NGINX_IMAGE":     nginx.WithDockerImage,
		"ZDML_NGINX_NETWORK":   nginx.WithDockerNetworkMode,
	} {
		if v := getenv(env); v != "" {
			opts = append(opts, opt(v))
		}
	}
	if v := getenv("ZDML_NGINX_CREATE"); v != "" {
		create, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("ZDML_NGINX_CREATE=%q: want true or false", v)
		}
		if !create {
			opts = append(opts, nginx.WithDockerAdoptOnly())
		}
	}
	return nginx.NewDocker(dir, opts...)
}

// errNoNginx is what a reconciler started with --nginx none answers when
// a spec needs nginx (runtime process or docker).
var errNoNginx = errors.New("no nginx (--nginx none): runtimes process and docker need --nginx local or docker")

// noNginx is the runner of --nginx none: nothing runs, and nothing can be
// started.
type noNginx struct{ dir string }

var _ nginx.Runner = noNginx{}

func (n noNginx) Dir() string                                   { return n.dir }
func (noNginx) Start(context.Context) error                     { return errNoNginx }
func (noNginx) Test(context.Context, string) error              { return errNoNginx }
func (noNginx) Reload(context.Context) error                    { return errNoNginx }
func (noNginx) Stop(context.Context) error                      { return nil }
func (noNginx) Status(context.Context) (nginx.Status, error)    { return nginx.Status{}, nil }
func (noNginx) Workers(context.Context) ([]nginx.Worker, error) { return nil, errNoNginx }

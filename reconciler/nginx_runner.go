package reconciler

import (
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
	case NginxDocker:
	default:
		return nil, fmt.Errorf("nginx runtime %q: want %s or %s", runtime, NginxLocal, NginxDocker)
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

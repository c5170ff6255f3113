package docker

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// hostPath maps a path of this process to the Docker host's path, for bind
// mounts: when the reconciler itself runs in a container (docker compose)
// its /models is a bind mount of some host directory, and a color's bind
// source must be that host directory. On the host, or for a path no bind
// mount covers, the path is returned as it is.
func (d *Docker) hostPath(ctx context.Context, path string) string {
	mounts := d.selfMounts(ctx)
	best, bestLen := path, -1
	for _, m := range mounts {
		rel, err := filepath.Rel(m.Destination, path)
		if m.Type != "bind" || err != nil || rel == ".." || strings.HasPrefix(rel, "../") || len(m.Destination) <= bestLen {
			continue
		}
		best, bestLen = filepath.Join(m.Source, rel), len(m.Destination)
	}
	return best
}

// selfMounts returns the mounts of the container this process runs in, or
// nil when it is not in a container the daemon knows. The answer is kept
// once known.
func (d *Docker) selfMounts(ctx context.Context) []container.MountPoint {
	d.selfMu.Lock()
	defer d.selfMu.Unlock()
	if d.selfKnown {
		return d.self
	}
	for _, id := range d.selfIDs() {
		var c container.InspectResponse
		err := d.call(ctx, "inspect self "+id, 0, func(ctx context.Context) error {
			var err error
			c, err = d.api.ContainerInspect(ctx, id)
			return err
		})
		switch {
		case err == nil && c.ContainerJSONBase != nil:
			d.self, d.selfKnown = c.Mounts, true
			d.log.Info("running in a container", "container", strings.TrimPrefix(c.Name, "/"), "mounts", len(c.Mounts))
			return d.self
		case !cerrdefs.IsNotFound(err):
			return nil // the daemon did not answer: ask again next time
		}
	}
	d.selfKnown = true
	return nil
}

// cgroupID finds a container id in /proc/self/cgroup (cgroup v1:
// ".../docker/<64 hex>").
var cgroupID = regexp.MustCompile(`[0-9a-f]{64}`)

// selfIDs are the names this process's container may have, best first:
// the one compose passes (ZDML_DOCKER_SELF), the id in its cgroup path,
// then its host name. The host name alone is not enough: a container
// sharing another's network namespace (the reconciler in nginx's) has the
// other's host name.
func (d *Docker) selfIDs() []string {
	var ids []string
	if d.selfName != "" {
		ids = append(ids, d.selfName)
	}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		if id := cgroupID.Find(b); id != nil {
			ids = append(ids, string(id))
		}
	}
	if d.selfName == "" {
		if host, err := os.Hostname(); err == nil {
			ids = append(ids, host)
		}
	}
	return ids
}

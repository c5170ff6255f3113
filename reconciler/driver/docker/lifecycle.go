package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// ErrImageMissing means the color's image is not on the engine. Nothing is
// pulled: images are built locally (make images).
var ErrImageMissing = errors.New("image not found on the docker engine")

// Start runs inst as the container <prefix>-<color>. A running container of
// ours with exactly this configuration is adopted as it is (its priority
// set to the one asked for); any other container of ours by that name is
// replaced; a container by that name that is not ours is an error.
func (d *Docker) Start(ctx context.Context, inst driver.Instance) (driver.Status, error) {
	if !inst.Color.Valid() {
		return driver.Status{}, fmt.Errorf("docker start: color %q: want blue or green", inst.Color)
	}
	if inst.Image == "" {
		return driver.Status{}, fmt.Errorf("docker start %s: no image (set spec.image for runtime docker)", inst.Color)
	}
	modelsDir, modelsSrc := d.modelsDir, d.modelsSrc
	if _, err := containerModelPath(modelsDir, inst.ModelPath); modelsDir == "" || err != nil {
		// No models directory, or a model file given by a path outside
		// it: mount the file's own directory.
		modelsDir, modelsSrc = filepath.Dir(inst.ModelPath), ""
	}
	if modelsSrc == "" {
		modelsSrc = d.hostPath(ctx, modelsDir)
	}
	subnets, err := d.ensureNetwork(ctx)
	if err != nil {
		return driver.Status{}, err
	}
	cs, err := d.buildContainer(inst, modelsDir, modelsSrc, subnets)
	if err != nil {
		return driver.Status{}, fmt.Errorf("docker start %s: %w", inst.Color, err)
	}
	log := d.log.With("color", inst.Color, "container", cs.name, "image", inst.Image, "version", inst.ModelVersion)
	cur, found, err := d.inspect(ctx, cs.name)
	if err != nil {
		return driver.Status{}, err
	}
	if found {
		if cur.Config.Labels[LabelOwner] != d.owner {
			return driver.Status{}, fmt.Errorf("docker start %s: %s exists with owner %q: %w",
				inst.Color, cs.name, cur.Config.Labels[LabelOwner], ErrNotOwned)
		}
		if running(cur) && sameLabels(cur.Config.Labels, cs.config.Labels, LabelConfig, LabelShape) {
			log.Info("container adopted", "id", short(cur.ID))
			if err := d.SetPriority(ctx, inst.Color, inst.Priority); err != nil {
				return driver.Status{}, err
			}
			return d.Inspect(ctx, inst.Color)
		}
		log.Info("container replaced", "id", short(cur.ID), "was_version", cur.Config.Labels[LabelVersion], "running", running(cur))
		if err := d.remove(ctx, cur.ID); err != nil {
			return driver.Status{}, err
		}
	}
	if err := d.create(ctx, cs, log); err != nil {
		return driver.Status{}, fmt.Errorf("docker start %s: %w", inst.Color, err)
	}
	return d.Inspect(ctx, inst.Color)
}

// create makes and starts the container; a container that fails to start is
// removed again, so a failed start leaves nothing behind.
func (d *Docker) create(ctx context.Context, cs containerSpec, log *slog.Logger) error {
	if err := d.ensureImage(ctx, cs.config.Image); err != nil {
		return err
	}
	var id string
	err := d.call(ctx, "create "+cs.name, 0, func(ctx context.Context) error {
		resp, err := d.api.ContainerCreate(ctx, cs.config, cs.host, cs.network, nil, cs.name)
		id = resp.ID
		return err
	})
	if err != nil {
		return err
	}
	err = d.call(ctx, "start "+cs.name, 0, func(ctx context.Context) error {
		return d.api.ContainerStart(ctx, id, container.StartOptions{})
	})
	if err != nil {
		if rmErr := d.remove(context.WithoutCancel(ctx), id); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
		return err
	}
	log.Info("container started", "id", short(id), "cpu_shares", cs.host.CPUShares, "memory_bytes", cs.host.Memory)
	return nil
}

func (d *Docker) ensureImage(ctx context.Context, image string) error {
	err := d.call(ctx, "inspect image "+image, 0, func(ctx context.Context) error {
		_, err := d.api.ImageInspect(ctx, image)
		return err
	})
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %s (images are built locally, never pulled: run make images)", ErrImageMissing, image)
	}
	return err
}

// Stop stops a color gracefully (SIGTERM, then SIGKILL after timeout) and
// removes its container; its chat history volume stays. Stopping a color
// that does not run is not an error. Once the stop is sent it is bounded
// by timeout alone, not by ctx: a cancelled caller must not turn a
// graceful stop into a forced removal that cuts the color's requests.
func (d *Docker) Stop(ctx context.Context, color spec.Color, timeout time.Duration) error {
	name := d.ContainerName(color)
	cur, found, err := d.inspect(ctx, name)
	if err != nil || !found {
		return err
	}
	if cur.Config.Labels[LabelOwner] != d.owner {
		return fmt.Errorf("docker stop %s: owner %q: %w", name, cur.Config.Labels[LabelOwner], ErrNotOwned)
	}
	ctx = context.WithoutCancel(ctx)
	secs := int(math.Ceil(timeout.Seconds()))
	begin := time.Now()
	err = d.call(ctx, "stop "+name, time.Duration(secs)*time.Second, func(ctx context.Context) error {
		return d.api.ContainerStop(ctx, cur.ID, container.StopOptions{Timeout: &secs})
	})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	after, found, err := d.inspect(ctx, name)
	if err == nil && found {
		d.log.Info("container stopped", "color", color, "container", name, "exit_code", after.State.ExitCode,
			"duration_seconds", time.Since(begin).Seconds())
	}
	if err := d.remove(ctx, cur.ID); err != nil {
		return err
	}
	d.pruneNetwork(ctx)
	return nil
}

// remove force-removes a container (its anonymous state, not named volumes).
func (d *Docker) remove(ctx context.Context, id string) error {
	err := d.call(ctx, "remove "+short(id), 0, func(ctx context.Context) error {
		return d.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	})
	if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) && isRemovalInProgress(err) {
		return nil
	}
	return err
}

// SetPriority sets a running color's CPU weight. Raising a color to normal
// also gives it the normal restart policy: it is now serving, and must come
// back after a crash or a daemon restart.
func (d *Docker) SetPriority(ctx context.Context, color spec.Color, p driver.Priority) error {
	name := d.ContainerName(color)
	cur, found, err := d.inspect(ctx, name)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("docker set priority %s: no container %s", color, name)
	}
	if cur.Config.Labels[LabelOwner] != d.owner {
		return fmt.Errorf("docker set priority %s: %w", name, ErrNotOwned)
	}
	if cur.HostConfig.CPUShares == cpuShares(p) && cur.HostConfig.RestartPolicy.Name == d.restartPolicy(p).Name {
		return nil
	}
	err = d.call(ctx, "update "+name, 0, func(ctx context.Context) error {
		_, err := d.api.ContainerUpdate(ctx, cur.ID, container.UpdateConfig{
			Resources:     container.Resources{CPUShares: cpuShares(p)},
			RestartPolicy: d.restartPolicy(p),
		})
		return err
	})
	if err == nil {
		d.log.Info("priority set", "color", color, "priority", p.String(), "cpu_shares", cpuShares(p))
	}
	return err
}

// isRemovalInProgress tells a second remove of a container being removed.
func isRemovalInProgress(err error) bool {
	return strings.Contains(err.Error(), "already in progress")
}

// sameLabels reports whether a and b agree on every key.
func sameLabels(a, b map[string]string, keys ...string) bool {
	for _, k := range keys {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

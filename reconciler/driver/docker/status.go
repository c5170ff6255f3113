package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Inspect observes one color's container without changing it. No container
// is a color that does not run, not an error.
func (d *Docker) Inspect(ctx context.Context, color spec.Color) (driver.Status, error) {
	name := d.ContainerName(color)
	cur, found, err := d.inspect(ctx, name)
	if err != nil || !found {
		return driver.Status{Color: color}, err
	}
	if cur.Config.Labels[LabelOwner] != d.owner {
		return driver.Status{Color: color}, fmt.Errorf("docker inspect %s: owner %q: %w", name, cur.Config.Labels[LabelOwner], ErrNotOwned)
	}
	st := d.status(cur)
	st.Color = color
	if st.Running {
		if deep, err := d.server.Deep(ctx, st.Addr); err == nil {
			st.InstanceID = deep.InstanceID
		}
	} else {
		st.ExitErr = d.exitReason(ctx, cur)
	}
	return st, nil
}

// status reads a Status from a container's inspect data.
func (d *Docker) status(c container.InspectResponse) driver.Status {
	st := driver.Status{
		Color:        spec.Color(c.Config.Labels[LabelColor]),
		Running:      running(c),
		ID:           c.ID,
		Addr:         c.Config.Labels[LabelAddr],
		ModelVersion: c.Config.Labels[LabelVersion],
		ConfigHash:   c.Config.Labels[LabelConfig],
		Priority:     driver.PriorityNormal,
	}
	if c.HostConfig != nil && c.HostConfig.CPUShares != 0 && c.HostConfig.CPUShares < NormalCPUShares {
		st.Priority = driver.PriorityLow
	}
	if c.State != nil {
		st.StartedAt, _ = time.Parse(time.RFC3339Nano, c.State.StartedAt)
	}
	return st
}

// running is true for a container whose process runs and is not between
// restarts.
func running(c container.InspectResponse) bool {
	return c.State != nil && c.State.Running && !c.State.Restarting && !c.State.Dead
}

// exitReason says why a container is not running, with the last lines of
// its log: the deploy's rollback reason then names the real cause.
func (d *Docker) exitReason(ctx context.Context, c container.InspectResponse) string {
	if c.State == nil {
		return ""
	}
	s := c.State
	var why string
	switch {
	case s.OOMKilled:
		why = fmt.Sprintf("killed by the OOM killer (memory limit %d bytes)", c.HostConfig.Memory)
	case s.Restarting:
		why = fmt.Sprintf("restarting after exit code %d (%d restarts)", s.ExitCode, c.RestartCount)
	case s.Status == "created":
		why = "created but never started"
	default:
		why = fmt.Sprintf("exited with code %d", s.ExitCode)
	}
	if s.Error != "" {
		why += ": " + s.Error
	}
	if tail := d.logTail(ctx, c.ID, 5); tail != "" {
		why += "; last log: " + tail
	}
	return why
}

// logTail returns a container's last n log lines, joined; best effort.
func (d *Docker) logTail(ctx context.Context, id string, n int) string {
	lines, _ := d.logLines(ctx, id, n)
	return strings.Join(lines, " | ")
}

// inspect returns a container by name; found is false when there is none.
func (d *Docker) inspect(ctx context.Context, name string) (c container.InspectResponse, found bool, err error) {
	err = d.call(ctx, "inspect "+name, 0, func(ctx context.Context) error {
		c, err = d.api.ContainerInspect(ctx, name)
		return err
	})
	if cerrdefs.IsNotFound(err) {
		return c, false, nil
	}
	if err == nil && (c.ContainerJSONBase == nil || c.Config == nil || c.HostConfig == nil) {
		return c, false, fmt.Errorf("docker inspect %s: incomplete answer from the daemon", name)
	}
	return c, err == nil, err
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

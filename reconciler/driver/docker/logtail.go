package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

var _ driver.LogTailer = (*Docker)(nil)

// LogTail returns the last n lines the color's container wrote (stdout and
// stderr), through the Engine API.
func (d *Docker) LogTail(ctx context.Context, c spec.Color, n int) ([]string, error) {
	name := d.ContainerName(c)
	cur, found, err := d.inspect(ctx, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%s: no container %s", c, name)
	}
	if cur.Config.Labels[LabelOwner] != d.owner {
		return nil, fmt.Errorf("docker logs %s: owner %q: %w", name, cur.Config.Labels[LabelOwner], ErrNotOwned)
	}
	return d.logLines(ctx, cur.ID, n)
}

// logLines returns a container's last n log lines.
func (d *Docker) logLines(ctx context.Context, id string, n int) ([]string, error) {
	var out bytes.Buffer
	err := d.call(ctx, "logs "+short(id), 0, func(ctx context.Context) error {
		out.Reset()
		rc, err := d.api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(n)})
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = stdcopy.StdCopy(&out, &out, io.LimitReader(rc, 256<<10))
		return err
	})
	text := strings.TrimSpace(out.String())
	if text == "" {
		return nil, err
	}
	return strings.Split(text, "\n"), err
}

package docker

import (
	"context"
	"errors"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Recover finds the model-server containers this owner left behind. A
// running container with its color's expected name is adopted and returned;
// everything else of ours (stopped or crashed colors, stray duplicates,
// containers of an unknown color) is an orphan and is removed. Containers
// without our owner label are never looked at.
func (d *Docker) Recover(ctx context.Context) ([]driver.Status, error) {
	var list []container.Summary
	err := d.call(ctx, "list containers", 0, func(ctx context.Context) error {
		var err error
		list, err = d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
			filters.Arg("label", LabelOwner+"="+d.owner),
			filters.Arg("label", LabelRole+"=modelserver"),
		)})
		return err
	})
	if err != nil {
		return nil, err
	}
	var (
		adopted []driver.Status
		errs    []error
	)
	for _, c := range list {
		color := spec.Color(c.Labels[LabelColor])
		name := strings.TrimPrefix(firstName(c.Names), "/")
		if color.Valid() && name == d.ContainerName(color) && c.State == "running" {
			st, err := d.Inspect(ctx, color)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if st.Running {
				d.log.Info("container adopted", "color", color, "container", name, "version", st.ModelVersion)
				adopted = append(adopted, st)
				continue
			}
		}
		d.log.Info("orphan removed", "container", name, "color", color, "state", c.State)
		if err := d.remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return adopted, errors.Join(errs...)
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

package docker

import (
	"context"
	"net/netip"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
)

// ensureNetwork makes sure the colors' user-defined bridge network exists
// and returns its subnets. One that already exists is used as it is,
// whoever made it (docker compose makes it in the compose setup, with a
// fixed subnet for the colors' static addresses); one made here carries
// the owner label.
func (d *Docker) ensureNetwork(ctx context.Context) ([]netip.Prefix, error) {
	var n network.Inspect
	err := d.call(ctx, "inspect network "+d.network, 0, func(ctx context.Context) error {
		var err error
		n, err = d.api.NetworkInspect(ctx, d.network, network.InspectOptions{})
		return err
	})
	if err == nil {
		return subnets(n), nil
	}
	if !cerrdefs.IsNotFound(err) {
		return nil, err
	}
	err = d.call(ctx, "create network "+d.network, 0, func(ctx context.Context) error {
		_, err := d.api.NetworkCreate(ctx, d.network, network.CreateOptions{
			Driver: "bridge",
			Labels: map[string]string{LabelOwner: d.owner},
		})
		return err
	})
	if err != nil && !cerrdefs.IsConflict(err) { // a conflict: made concurrently, fine
		return nil, err
	}
	if err == nil {
		d.log.Info("network created", "network", d.network)
	}
	return nil, nil
}

// subnets lists a network's IPv4/IPv6 subnets from its IPAM config.
func subnets(n network.Inspect) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range n.IPAM.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// pruneNetwork removes the colors' network when this owner made it and no
// container uses it any more (the last color stopped). Best effort: a
// network still in use, or made by someone else, stays.
func (d *Docker) pruneNetwork(ctx context.Context) {
	var n network.Inspect
	err := d.call(ctx, "inspect network "+d.network, 0, func(ctx context.Context) error {
		var err error
		n, err = d.api.NetworkInspect(ctx, d.network, network.InspectOptions{})
		return err
	})
	if err != nil || n.Labels[LabelOwner] != d.owner || len(n.Containers) > 0 {
		return
	}
	err = d.call(ctx, "remove network "+d.network, 0, func(ctx context.Context) error {
		return d.api.NetworkRemove(ctx, n.ID)
	})
	if err == nil {
		d.log.Info("network removed", "network", d.network)
	}
}

package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
)

// DefaultContainerStopTimeout is a color container's own stop timeout in
// seconds, used when something other than the reconciler stops it (docker
// stop, a daemon shutdown) and the instance has no ShutdownTimeout: the
// default drain timeout plus time to exit.
const DefaultContainerStopTimeout = 60

// containerSpec is everything ContainerCreate needs for one color.
type containerSpec struct {
	name    string
	config  *container.Config
	host    *container.HostConfig
	network *network.NetworkingConfig
}

// endpoint is where a color listens and how the reconciler reaches it.
type endpoint struct {
	listen  string // --addr inside the container
	publish nat.PortMap
	alias   string // extra DNS name on the network
	ip      string // static address on the network
}

// planEndpoint maps an Instance.Addr to the container's network setup:
//   - an IP inside the colors' network (172.30.107.10:8000) is the
//     container's static address there: it never needs DNS, so nginx -t
//     accepts a config naming a color that is not running (compose);
//   - any other IP (127.0.0.1:18000) is published on that host address,
//     so a reconciler and an nginx on the host reach the color there;
//   - a name (zdml-blue:8000) is a DNS alias on the colors' network.
func planEndpoint(addr string, subnets []netip.Prefix) (endpoint, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return endpoint{}, fmt.Errorf("addr %q: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return endpoint{}, fmt.Errorf("addr %q: bad port", addr)
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case host != "" && err != nil:
		return endpoint{listen: net.JoinHostPort("0.0.0.0", port), alias: host}, nil
	case err == nil && slices.ContainsFunc(subnets, func(p netip.Prefix) bool { return p.Contains(ip) }):
		return endpoint{listen: net.JoinHostPort("0.0.0.0", port), ip: host}, nil
	}
	cport := nat.Port(strconv.Itoa(ContainerPort) + "/tcp")
	return endpoint{
		listen:  net.JoinHostPort("0.0.0.0", strconv.Itoa(ContainerPort)),
		publish: nat.PortMap{cport: {{HostIP: host, HostPort: port}}},
	}, nil
}

// containerModelPath maps a model file on the host to its path under the
// read-only models mount; it refuses a file outside the models directory.
func containerModelPath(modelsDir, modelPath string) (string, error) {
	rel, err := filepath.Rel(modelsDir, modelPath)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
		return "", fmt.Errorf("model %s is outside the models directory %s", modelPath, modelsDir)
	}
	return path.Join(ContainerModelsDir, filepath.ToSlash(rel)), nil
}

// buildContainer turns an Instance into a container spec. modelsDir is the
// directory inst.ModelPath lives in, modelsSrc the same directory as the
// daemon sees it (the bind source).
func (d *Docker) buildContainer(inst driver.Instance, modelsDir, modelsSrc string, subnets []netip.Prefix) (containerSpec, error) {
	ep, err := planEndpoint(inst.Addr, subnets)
	if err != nil {
		return containerSpec{}, err
	}
	model, err := containerModelPath(modelsDir, inst.ModelPath)
	if err != nil {
		return containerSpec{}, err
	}
	name := d.ContainerName(inst.Color)
	args := driver.ModelServerArgs(inst, model, ep.listen, path.Join(ContainerDataDir, driver.ChatDBFile))
	labels := map[string]string{
		LabelOwner: d.owner, LabelRole: "modelserver", LabelColor: string(inst.Color),
		LabelVersion: inst.ModelVersion, LabelModel: inst.ModelName, LabelAddr: inst.Addr,
		LabelConfig: inst.ConfigHash,
	}
	labels[LabelShape] = shapeHash(inst.Image, args, inst.Memory, inst.CPUs, inst.Addr, modelsSrc, d.network, d.DataVolume())
	stop := DefaultContainerStopTimeout
	if inst.ShutdownTimeout > 0 {
		stop = int(math.Ceil((inst.ShutdownTimeout + 10*time.Second).Seconds()))
	}
	cfg := &container.Config{
		Image:       inst.Image,
		Cmd:         args,
		Labels:      labels,
		StopSignal:  "SIGTERM",
		StopTimeout: &stop,
	}
	if len(ep.publish) > 0 {
		cfg.ExposedPorts = nat.PortSet{}
		for p := range ep.publish {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	host := &container.HostConfig{
		Mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: modelsSrc, Target: ContainerModelsDir, ReadOnly: true},
			{Type: mount.TypeVolume, Source: d.DataVolume(), Target: ContainerDataDir,
				VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{LabelOwner: d.owner}}},
		},
		Tmpfs:          map[string]string{"/tmp": "rw,noexec,nosuid,size=64m,mode=1777"},
		PortBindings:   ep.publish,
		RestartPolicy:  d.restartPolicy(inst.Priority),
		Resources:      resources(inst),
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		LogConfig:      container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
	}
	netcfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{d.network: {}}}
	if ep.alias != "" && ep.alias != name {
		netcfg.EndpointsConfig[d.network].Aliases = []string{ep.alias}
	}
	if ep.ip != "" {
		netcfg.EndpointsConfig[d.network].IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ep.ip}
	}
	return containerSpec{name: name, config: cfg, host: host, network: netcfg}, nil
}

// resources are the cgroup limits of a color: memory without swap (the
// seed's budget is 2 GB per color), CPUs as a CFS quota, and the CPU weight
// of its priority.
func resources(inst driver.Instance) container.Resources {
	r := container.Resources{CPUShares: cpuShares(inst.Priority)}
	if inst.Memory > 0 {
		r.Memory = int64(inst.Memory)
		r.MemorySwap = int64(inst.Memory)
	}
	if inst.CPUs > 0 {
		r.NanoCPUs = int64(math.Round(inst.CPUs * 1e9))
	}
	pids := int64(512)
	r.PidsLimit = &pids
	return r
}

func cpuShares(p driver.Priority) int64 {
	if p == driver.PriorityLow {
		return LowCPUShares
	}
	return NormalCPUShares
}

// restartPolicy keeps a low-priority color (a standby loading and warming)
// without restarts, so a crash shows as an exit the deploy rolls back on;
// a normal-priority color restarts with the daemon and after crashes.
func (d *Docker) restartPolicy(p driver.Priority) container.RestartPolicy {
	if p == driver.PriorityLow {
		return container.RestartPolicy{Name: container.RestartPolicyDisabled}
	}
	return container.RestartPolicy{Name: d.restart}
}

// DataVolume is the named volume holding the chat history, mounted at
// ContainerDataDir in both colors: one SQLite database (WAL), so a user's
// conversation follows a deploy to the other color.
func (d *Docker) DataVolume() string { return d.prefix + "-data" }

// shapeHash identifies everything that shapes a color's container, so Start
// adopts a running container only when it is exactly what was asked for.
func shapeHash(parts ...any) string {
	b, _ := json.Marshal(parts)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

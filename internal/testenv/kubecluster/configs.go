package kubecluster

import (
	"fmt"
	"os"
	"path/filepath"
	"text/template"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// PauseImage is the pod sandbox image, built on this machine (pause.go)
// and imported into the node's containerd: nothing is ever pulled.
const PauseImage = "zdml.local/pause:1"

// Snapshotter is containerd's snapshotter for the node. overlayfs mounts
// on this machine's ext4 (Docker's fuse-overlayfs is its own choice), so
// the node uses it; set ZDML_KUBE_SNAPSHOTTER=native where it does not.
func snapshotter() string {
	if s := os.Getenv("ZDML_KUBE_SNAPSHOTTER"); s != "" {
		return s
	}
	return "overlayfs"
}

// containerdConfig is the node's containerd: its own root, state and
// socket (Docker's containerd is never touched), the CRI plugin with the
// local pause image, no registry, CNI from Debian's plugins, and network
// namespaces and runc state under the cluster's directory so teardown
// finds them. restrict_oom_score_adj: this machine's root lacks
// CAP_SYS_RESOURCE, so runc cannot lower a sandbox's oom_score_adj to the
// kubelet's -998 ("nsexec: failed to update /proc/self/oom_score_adj:
// Permission denied", seen by kubelet as "runc create failed: unable to
// start container process: can't get final child's PID from pipe: EOF");
// containerd then keeps every score at or above its own.
const containerdConfig = `version = 2
root = "{{.Root}}"
state = "{{.State}}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{{.Socket}}"
[ttrpc]
  address = "{{.Socket}}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{{.Pause}}"
    netns_mounts_under_state_dir = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "{{.Snapshotter}}"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "{{.RuncRoot}}"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{{.CNIConf}}"
      max_conf_num = 1
  [plugins."io.containerd.runtime.v1.linux"]
    runtime_root = "{{.RuncRoot}}-v1"
  [plugins."io.containerd.internal.v1.opt"]
    path = "{{.Opt}}"
`

// cniConfig is the pod network: a bridge inside the node's namespace with
// host-local addresses from the pod CIDR (its state under the cluster's
// directory) and portmap for hostPort.
const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "zdmlk{{.Slot}}",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "{{.Bridge}}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "{{.IPAMDir}}",
        "ranges": [[{"subnet": "{{.PodCIDR}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

// kubeletConfig runs the kubelet on cgroup v1 with the cgroupfs driver
// (failCgroupV1: false keeps 1.34 running there), every path under the
// cluster's directory, no eviction or image GC from a shared disk, and the
// pods' cgroups under the slot's own cgroup root.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {{.NodeIP}}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: {{.PKI}}/kubelet.crt
tlsPrivateKeyFile: {{.PKI}}/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: {{.PKI}}/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: {{.CgroupRoot}}
failCgroupV1: false
containerRuntimeEndpoint: unix://{{.Socket}}
imageServiceEndpoint: unix://{{.Socket}}
podCIDR: {{.PodCIDR}}
clusterDomain: cluster.local
resolvConf: ""
failSwapOn: false
protectKernelDefaults: false
serializeImagePulls: false
evictionHard: {memory.available: "1Mi", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podLogsDir: {{.PodLogs}}
volumePluginDir: {{.VolumePlugins}}
staticPodPath: ""
syncFrequency: 10s
fileCheckFrequency: 20s
nodeStatusUpdateFrequency: 5s
`

// kubeProxyConfig runs kube-proxy in iptables mode inside the node's
// namespace, leaving the host's conntrack limits as they are.
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: {{.Dir}}/kube-proxy.kubeconfig}
hostnameOverride: {{.NodeName}}
mode: iptables
clusterCIDR: {{.PodCIDR}}
bindAddress: {{.NodeIP}}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {syncPeriod: 30s, minSyncPeriod: 0s}
nodePortAddresses: [primary]
`

// configValues are what the templates above fill in.
type configValues struct {
	Dir, Root, State, Socket, RuncRoot, CNIConf, Opt, Pause, Snapshotter string
	Slot                                                                 int
	Bridge, IPAMDir, PodCIDR, NodeIP, NodeName, PKI, CgroupRoot          string
	PodLogs, VolumePlugins                                               string
}

func (l layout) configValues() configValues {
	return configValues{
		Dir:           l.Dir,
		Root:          l.path("containerd", "root"),
		State:         l.path("containerd", "state"),
		Socket:        l.containerdSocket(),
		RuncRoot:      l.path("containerd", "runc"),
		CNIConf:       l.path("cni", "net.d"),
		Opt:           l.path("containerd", "opt"),
		Pause:         PauseImage,
		Snapshotter:   snapshotter(),
		Slot:          l.Slot,
		Bridge:        l.bridge(),
		IPAMDir:       l.path("cni", "ipam"),
		PodCIDR:       l.podCIDR(),
		NodeIP:        l.nodeIP(),
		NodeName:      l.nodeName(),
		PKI:           l.path("pki"),
		CgroupRoot:    l.cgroupRoot(),
		PodLogs:       l.path("kubelet", "pod-logs"),
		VolumePlugins: l.path("kubelet", "volume-plugins"),
	}
}

// writeConfigs writes every component's config file into the cluster's
// directory.
func writeConfigs(l layout) error {
	v := l.configValues()
	files := []struct{ path, tmpl string }{
		{l.path("containerd", "config.toml"), containerdConfig},
		{l.path("cni", "net.d", "10-zdml.conflist"), cniConfig},
		{l.path("kubelet", "config.yaml"), kubeletConfig},
		{l.path("kube-proxy.yaml"), kubeProxyConfig},
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return fmt.Errorf("config: %w", err)
		}
		out, err := os.Create(f.path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		err = template.Must(template.New(f.path).Parse(f.tmpl)).Execute(out, v)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("config %s: %w", f.path, err)
		}
	}
	for _, d := range []string{v.PodLogs, v.VolumePlugins, v.IPAMDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// writeKubeconfig writes a kubeconfig for the user of a client
// certificate issued by p.
func writeKubeconfig(path, server string, p *pki, user string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["zdml"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: p.path("ca.crt")}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificate: p.cert(user), ClientKey: p.key(user)}
	cfg.Contexts["zdml"] = &clientcmdapi.Context{Cluster: "zdml", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "zdml"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return nil
}

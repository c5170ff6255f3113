package kubecluster

import (
	"fmt"
	"net"
	"path/filepath"
)

// Slots is how many clusters may run on one machine at once. Slot N owns
// the network namespace zdmlkN and these address ranges, none of which
// clash with Docker's 172.17.0.0/16 or the compose network 172.30.107.0/24:
//
//	10.91.N.0/30  the link between the host (.1) and the node (.2)
//	10.89.N.0/24  pod IPs (the node's CNI bridge)
//	10.90.N.0/24  Service ClusterIPs
const Slots = 32

// layout is where one cluster keeps its files and which addresses it owns.
type layout struct {
	Dir  string `json:"dir"`
	Slot int    `json:"slot"`
}

func (l layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.Dir}, elem...)...)
}

// netns is the node's network namespace: containerd, the kubelet,
// kube-proxy and every pod live in it, so the cluster's iptables rules,
// bridge and ports never meet another cluster's or the host's.
func (l layout) netns() string     { return fmt.Sprintf("zdmlk%d", l.Slot) }
func (l layout) netnsPath() string { return "/run/netns/" + l.netns() }
func (l layout) hostVeth() string  { return fmt.Sprintf("zdmlk%dh", l.Slot) }
func (l layout) nodeVeth() string  { return fmt.Sprintf("zdmlk%dn", l.Slot) }

// hostIP is the host's end of the link: etcd and the control plane listen
// on it, so fixed ports never clash with another cluster's.
func (l layout) hostIP() string { return fmt.Sprintf("10.91.%d.1", l.Slot) }

// nodeIP is the node's end of the link: the kubelet's and the Node's address.
func (l layout) nodeIP() string      { return fmt.Sprintf("10.91.%d.2", l.Slot) }
func (l layout) podCIDR() string     { return fmt.Sprintf("10.89.%d.0/24", l.Slot) }
func (l layout) serviceCIDR() string { return fmt.Sprintf("10.90.%d.0/24", l.Slot) }

// kubernetesIP is the ClusterIP of the default/kubernetes Service.
func (l layout) kubernetesIP() string { return fmt.Sprintf("10.90.%d.1", l.Slot) }

// cgroupRoot is the kubelet's cgroup root: the pods' cgroups are under it
// in every hierarchy, so teardown finds this cluster's pod processes there.
func (l layout) cgroupRoot() string { return fmt.Sprintf("/zdmlk%d", l.Slot) }

// bridge is the CNI bridge inside the node's network namespace.
func (l layout) bridge() string { return "zdmlbr0" }

// nodeName is the cluster's one Node.
func (l layout) nodeName() string { return "zdml-node" }

func (l layout) apiserverURL() string {
	return "https://" + net.JoinHostPort(l.hostIP(), "6443")
}

func (l layout) etcdURL(port string) string {
	return "http://" + net.JoinHostPort(l.hostIP(), port)
}

func (l layout) containerdSocket() string { return l.path("containerd", "containerd.sock") }

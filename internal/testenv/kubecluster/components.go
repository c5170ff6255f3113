package kubecluster

import (
	"net"
	"path/filepath"
)

// The control plane runs on the host and listens on the slot's host IP;
// the node's parts (containerd, kubelet, kube-proxy) run in the node's
// network namespace.

func etcd(l layout, bin string) component {
	return component{name: "etcd", argv: []string{filepath.Join(bin, "etcd"),
		"--name=zdml",
		"--data-dir=" + l.path("etcd"),
		"--listen-client-urls=" + l.etcdURL("2379"),
		"--advertise-client-urls=" + l.etcdURL("2379"),
		"--listen-peer-urls=" + l.etcdURL("2380"),
		"--initial-advertise-peer-urls=" + l.etcdURL("2380"),
		"--initial-cluster=zdml=" + l.etcdURL("2380"),
		"--listen-metrics-urls=",
		"--unsafe-no-fsync", // a test cluster's data does not outlive it
		"--log-level=warn",
	}}
}

func apiserver(l layout, bin string) component {
	pki := l.path("pki")
	return component{name: "kube-apiserver", argv: []string{filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers=" + l.etcdURL("2379"),
		"--bind-address=" + l.hostIP(),
		"--advertise-address=" + l.hostIP(),
		"--secure-port=6443",
		"--service-cluster-ip-range=" + l.serviceCIDR(),
		"--client-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
		"--kubelet-client-certificate=" + filepath.Join(pki, "apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + filepath.Join(pki, "apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(pki, "sa.key"),
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=1",
	}}
}

func controllerManager(l layout, bin string) component {
	pki := l.path("pki")
	kc := l.path("kube-controller-manager.kubeconfig")
	return component{name: "kube-controller-manager", argv: []string{filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=" + l.hostIP(),
		"--secure-port=10257",
		"--service-account-private-key-file=" + filepath.Join(pki, "sa.key"),
		"--root-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--cluster-signing-cert-file=" + filepath.Join(pki, "ca.crt"),
		"--cluster-signing-key-file=" + filepath.Join(pki, "ca.key"),
		"--service-cluster-ip-range=" + l.serviceCIDR(),
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--profiling=false",
		"--v=1",
	}}
}

func scheduler(l layout, bin string) component {
	kc := l.path("kube-scheduler.kubeconfig")
	return component{name: "kube-scheduler", argv: []string{filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=" + l.hostIP(),
		"--secure-port=10259",
		"--leader-elect=false",
		"--profiling=false",
		"--v=1",
	}}
}

func containerd(l layout) component {
	return component{name: "containerd", inNode: true, argv: []string{"containerd",
		"--config=" + l.path("containerd", "config.toml"),
		"--log-level=warn",
	}}
}

func kubelet(l layout, bin string) component {
	return component{name: "kubelet", inNode: true, argv: []string{filepath.Join(bin, "kubelet"),
		"--config=" + l.path("kubelet", "config.yaml"),
		"--kubeconfig=" + l.path("kubelet.kubeconfig"),
		"--root-dir=" + l.path("kubelet", "root"),
		"--cert-dir=" + l.path("kubelet", "pki"),
		"--hostname-override=" + l.nodeName(),
		"--node-ip=" + l.nodeIP(),
		"--pod-infra-container-image=" + PauseImage,
		"--v=1",
	}}
}

func kubeProxy(l layout, bin string) component {
	return component{name: "kube-proxy", inNode: true, argv: []string{filepath.Join(bin, "kube-proxy"),
		"--config=" + l.path("kube-proxy.yaml"),
		"--v=1",
	}}
}

// identities are the certificates the cluster's components use. The
// apiserver's serves on the host IP, the kubernetes Service's ClusterIP and
// loopback; each client's subject is the user RBAC's default bindings
// expect.
func (l layout) identities() []identity {
	return []identity{
		{name: "apiserver", cn: "kube-apiserver", server: true,
			ips: []net.IP{net.ParseIP(l.hostIP()), net.ParseIP(l.kubernetesIP()), net.ParseIP("127.0.0.1")},
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}},
		{name: "admin", cn: "admin", orgs: []string{"system:masters"}},
		{name: "kube-controller-manager", cn: "system:kube-controller-manager"},
		{name: "kube-scheduler", cn: "system:kube-scheduler"},
		{name: "kube-proxy", cn: "system:kube-proxy"},
		{name: "kubelet-client", cn: "system:node:" + l.nodeName(), orgs: []string{"system:nodes"}},
		{name: "kubelet", cn: l.nodeName(), server: true, ips: []net.IP{net.ParseIP(l.nodeIP())}, dns: []string{l.nodeName()}},
	}
}

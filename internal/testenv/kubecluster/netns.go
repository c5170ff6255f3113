package kubecluster

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// setupNetwork makes the node's network namespace and its link to the
// host: the host reaches pod IPs and ClusterIPs through the node (routes
// on the host), and the node reaches the control plane on the host's end.
// Only net.ipv4.ip_forward and bridge-nf-call-iptables inside the node's
// namespace are set; nothing of the host's network changes but two routes
// and one veth, and both go away with the namespace.
func setupNetwork(l layout) error {
	ns := l.netns()
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", l.hostVeth(), "type", "veth", "peer", "name", l.nodeVeth(), "netns", ns},
		{"ip", "addr", "add", l.hostIP() + "/30", "dev", l.hostVeth()},
		{"ip", "link", "set", l.hostVeth(), "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", l.nodeIP() + "/30", "dev", l.nodeVeth()},
		{"ip", "-n", ns, "link", "set", l.nodeVeth(), "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", l.hostIP()},
		{"ip", "route", "add", l.podCIDR(), "via", l.nodeIP(), "dev", l.hostVeth()},
		{"ip", "route", "add", l.serviceCIDR(), "via", l.nodeIP(), "dev", l.hostVeth()},
		nsenter(l, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"),
		nsenter(l, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"),
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	return nil
}

// teardownNetwork deletes the node's namespace (with it go its veths, the
// CNI bridge, kube-proxy's and CNI's iptables rules and the host's routes
// through the link). A namespace already gone is no error.
//
// The host's veth is deleted first, by name: a namespace outlives `ip netns
// del` while anything still holds it, and the kernel destroys it
// asynchronously, so the veth (and the routes through it) could stay
// behind for a while.
func teardownNetwork(l layout) error {
	veth := "/sys/class/net/" + l.hostVeth()
	if _, err := os.Stat(veth); err == nil {
		if err := run("ip", "link", "del", l.hostVeth()); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	if _, err := os.Stat(l.netnsPath()); err == nil {
		if err := run("ip", "netns", "del", l.netns()); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	if !waitFor(10*time.Second, func() bool { _, err := os.Stat(veth); return os.IsNotExist(err) }) {
		return fmt.Errorf("network: %s still there 10 s after its deletion", l.hostVeth())
	}
	return nil
}

// nsenter is argv run in the node's network namespace (and no other: the
// kubelet and containerd must see the host's mounts and cgroups).
func nsenter(l layout, argv ...string) []string {
	return append([]string{"nsenter", "--net=" + l.netnsPath(), "--"}, argv...)
}

// run runs argv and returns its output in the error when it fails.
func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

package docker

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

func TestPlanEndpoint(t *testing.T) {
	tests := []struct {
		name, addr       string
		listen, alias    string
		hostIP, hostPort string
		ip               string
		err              string
	}{
		{name: "an address in the colors' network is static", addr: "172.30.107.11:8001", listen: "0.0.0.0:8001", ip: "172.30.107.11"},
		{name: "an address outside it is published", addr: "172.31.0.1:8001", listen: "0.0.0.0:8000", hostIP: "172.31.0.1", hostPort: "8001"},
		{name: "loopback is published", addr: "127.0.0.1:18000", listen: "0.0.0.0:8000", hostIP: "127.0.0.1", hostPort: "18000"},
		{name: "all interfaces", addr: ":8000", listen: "0.0.0.0:8000", hostPort: "8000"},
		{name: "a name is a network alias", addr: "zdml-blue:8000", listen: "0.0.0.0:8000", alias: "zdml-blue"},
		{name: "no port", addr: "127.0.0.1", err: "missing port"},
		{name: "bad port", addr: "127.0.0.1:99999", err: "bad port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planEndpoint(tc.addr, []netip.Prefix{netip.MustParsePrefix("172.30.107.0/24")})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.listen != tc.listen || got.alias != tc.alias || got.ip != tc.ip {
				t.Errorf("listen %q alias %q ip %q; want %q %q %q", got.listen, got.alias, got.ip, tc.listen, tc.alias, tc.ip)
			}
			b := got.publish[nat.Port("8000/tcp")]
			if tc.hostPort == "" && len(got.publish) > 0 {
				t.Errorf("published %v; want nothing", got.publish)
			}
			if tc.hostPort != "" && (len(b) != 1 || b[0].HostIP != tc.hostIP || b[0].HostPort != tc.hostPort) {
				t.Errorf("published %v; want %s:%s -> 8000", got.publish, tc.hostIP, tc.hostPort)
			}
		})
	}
}

func TestContainerModelPath(t *testing.T) {
	tests := []struct{ name, dir, file, want, err string }{
		{name: "top level", dir: "/m", file: "/m/demo-v1.gguf", want: "/models/demo-v1.gguf"},
		{name: "sub directory", dir: "/m", file: "/m/a/b.gguf", want: "/models/a/b.gguf"},
		{name: "outside", dir: "/m", file: "/etc/passwd", err: "outside the models directory"},
		{name: "sibling prefix", dir: "/m", file: "/mm/x.gguf", err: "outside"},
		{name: "the directory itself", dir: "/m", file: "/m", err: "outside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := containerModelPath(tc.dir, tc.file)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("= %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("= %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestBuildContainer checks the flags and the adoption key: anything that
// shapes the container changes the key, priority does not (it is updated
// in place).
func TestBuildContainer(t *testing.T) {
	d, err := New(WithOwner("o"), WithModelsDir("/m"))
	if err != nil {
		t.Fatal(err)
	}
	inst := driver.Instance{Color: spec.Green, Addr: "127.0.0.1:18001", ModelName: "demo", ModelVersion: "v2",
		ModelPath: "/m/demo-v2.gguf", ModelSHA256: "abc", Image: "zdml/modelserver:local", Threads: 1, Parallel: 2,
		Ctx: 2048, Memory: 2 << 30, CPUs: 1.5, ShutdownTimeout: 30 * time.Second, ConfigHash: "h"}
	cs, err := d.buildContainer(inst, "/m", "/host/m", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--model", "/models/demo-v2.gguf", "--addr", "0.0.0.0:8000", "--color", "green",
		"--model-name", "demo", "--model-version", "v2", "--db", "/data/chat.db", "--model-sha256", "abc",
		"--threads", "1", "--parallel", "2", "--ctx", "2048", "--shutdown-timeout", "30s", "--memory-limit", "2147483648"}
	if got := []string(cs.config.Cmd); !slices.Equal(got, want) {
		t.Errorf("args\n got %q\nwant %q", got, want)
	}
	if cs.name != "o-green" || *cs.config.StopTimeout != 40 || cs.host.NanoCPUs != 1.5e9 || cs.host.Mounts[0].Source != "/host/m" {
		t.Errorf("name %s, stop timeout %d, nano cpus %d, models source %s", cs.name, *cs.config.StopTimeout, cs.host.NanoCPUs, cs.host.Mounts[0].Source)
	}
	blue := inst
	blue.Color, blue.Addr = spec.Blue, "127.0.0.1:18000"
	bcs, err := d.buildContainer(blue, "/m", "/host/m", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []containerSpec{cs, bcs} {
		if m := c.host.Mounts[1]; m.Type != mount.TypeVolume || m.Source != "o-data" || m.Target != ContainerDataDir || m.ReadOnly {
			t.Errorf("%s: chat history mount %+v; want the shared volume o-data at %s, writable", c.name, m, ContainerDataDir)
		}
	}
	key := cs.config.Labels[LabelShape]
	for _, tc := range []struct {
		name    string
		change  func(*driver.Instance)
		changed bool
	}{
		{"priority", func(i *driver.Instance) { i.Priority = driver.PriorityLow }, false},
		{"image", func(i *driver.Instance) { i.Image = "other" }, true},
		{"memory", func(i *driver.Instance) { i.Memory = 1 << 30 }, true},
		{"version", func(i *driver.Instance) { i.ModelVersion = "v3" }, true},
		{"address", func(i *driver.Instance) { i.Addr = "127.0.0.1:18002" }, true},
	} {
		i := inst
		tc.change(&i)
		cs2, err := d.buildContainer(i, "/m", "/host/m", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := cs2.config.Labels[LabelShape] != key; got != tc.changed {
			t.Errorf("changing %s changed the adoption key: %v; want %v", tc.name, got, tc.changed)
		}
	}
}

func TestNewFromEnv(t *testing.T) {
	env := map[string]string{"ZDML_DOCKER_PREFIX": "p", "ZDML_DOCKER_NETWORK": "n", "ZDML_DOCKER_CALL_TIMEOUT": "3s"}
	env["ZDML_MODELS_DIR"] = "/from/env" // the CLI's fallback for --models-dir; the driver takes cfg.ModelsDir
	d, err := NewFromEnv(driver.Config{StateDir: "/s", ModelsDir: "/m"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if d.Owner() != OwnerOf("/s") || d.ContainerName(spec.Blue) != "p-blue" || d.network != "n" || d.callTimeout != 3*time.Second || d.modelsDir != "/m" {
		t.Errorf("driver = owner %s, %s, network %s, timeout %s, models %s", d.Owner(), d.ContainerName(spec.Blue), d.network, d.callTimeout, d.modelsDir)
	}
	if OwnerOf("/s") == OwnerOf("/t") {
		t.Error("two state directories share an owner")
	}
	env["ZDML_DOCKER_CALL_TIMEOUT"] = "soon"
	if _, err := NewFromEnv(driver.Config{StateDir: "/s"}, func(k string) string { return env[k] }); err == nil ||
		!strings.Contains(err.Error(), "ZDML_DOCKER_CALL_TIMEOUT") {
		t.Errorf("malformed timeout: err = %v; want a clear error", err)
	}
}

// TestHostPath: in a container, a path under a bind mount maps to the
// host's directory (the colors' bind source); other paths stay as they are.
func TestHostPath(t *testing.T) {
	d, err := New(WithOwner("o"))
	if err != nil {
		t.Fatal(err)
	}
	d.selfKnown = true
	d.self = []container.MountPoint{
		{Type: "bind", Source: "/home/u/zdml", Destination: "/repo"},
		{Type: "bind", Source: "/home/u/zdml/models", Destination: "/models"},
		{Type: "volume", Source: "/var/lib/docker/volumes/s/_data", Destination: "/state"},
	}
	for _, tc := range []struct{ in, want string }{
		{"/models", "/home/u/zdml/models"},
		{"/models/sub", "/home/u/zdml/models/sub"},
		{"/repo/desired.yaml", "/home/u/zdml/desired.yaml"},
		{"/state/x", "/state/x"},
		{"/modelsx", "/modelsx"},
	} {
		if got := d.hostPath(context.Background(), tc.in); got != tc.want {
			t.Errorf("hostPath(%s) = %s; want %s", tc.in, got, tc.want)
		}
	}
}

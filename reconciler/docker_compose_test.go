package reconciler

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"go.yaml.in/yaml/v3"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/docker"
)

// compose runs docker-compose on the repository's docker-compose.yml with
// the given environment (added to this process's).
func compose(t testing.TB, env map[string]string, args ...string) ([]byte, error) {
	t.Helper()
	bin := testenv.LookPath(t, "docker-compose", "docker-compose")
	cmd := exec.Command(bin, append([]string{"-f", filepath.Join(testenv.RepoRoot(t), "docker-compose.yml")}, args...)...)
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd.CombinedOutput()
}

// composeFile is the part of `docker-compose config` the test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Profiles    []string          `yaml:"profiles"`
		NetworkMode string            `yaml:"network_mode"`
		MemLimit    any               `yaml:"mem_limit"`
		Ports       []any             `yaml:"ports"`
		Volumes     []any             `yaml:"volumes"`
		Networks    map[string]any    `yaml:"networks"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
	Networks map[string]struct {
		Name     string `yaml:"name"`
		Internal bool   `yaml:"internal"`
	} `yaml:"networks"`
}

// TestComposeConfig validates docker-compose.yml with docker-compose itself
// and checks the stack's contract: the socket only in the reconciler, the
// seed's memory budget, the colors on an internal network, only nginx's
// public port open beyond loopback, green (and the monitoring) in
// profiles, every image name overridable.
func TestComposeConfig(t *testing.T) {
	images := map[string]string{"ZDML_NGINX_IMAGE": "my/nginx:1", "ZDML_MODELSERVER_IMAGE": "my/ms:1",
		"ZDML_RECONCILER_IMAGE": "my/zdml:1", "ZDML_PROMETHEUS_IMAGE": "my/prom:1", "ZDML_GRAFANA_IMAGE": "my/grafana:1"}
	out, err := compose(t, images, "--profile", "colors", "--profile", "monitoring", "config")
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	var cf composeFile
	if err := yaml.Unmarshal(out, &cf); err != nil {
		t.Fatal(err)
	}
	wantImage := map[string]string{"nginx": "my/nginx:1", "reconciler": "my/zdml:1", "blue": "my/ms:1", "green": "my/ms:1",
		"prometheus": "my/prom:1", "grafana": "my/grafana:1"}
	wantMem := map[string]int64{"nginx": 128 << 20, "blue": 2 << 30, "green": 2 << 30, "prometheus": 256 << 20, "grafana": 256 << 20, "reconciler": 128 << 20}
	for name, svc := range cf.Services {
		if svc.Image != wantImage[name] {
			t.Errorf("%s: image %q; want %q from the environment", name, svc.Image, wantImage[name])
		}
		if got := memBytes(svc.MemLimit); got != wantMem[name] {
			t.Errorf("%s: mem_limit %v; want %d", name, svc.MemLimit, wantMem[name])
		}
		if sock := slices.ContainsFunc(svc.Volumes, func(v any) bool { return strings.Contains(fmt.Sprint(v), "docker.sock") }); sock != (name == "reconciler") {
			t.Errorf("%s: docker socket mounted = %v; only the reconciler may have it", name, sock)
		}
		for _, p := range svc.Ports {
			if s := fmt.Sprint(p); !strings.Contains(s, "127.0.0.1") && !(name == "nginx" && strings.Contains(s, "8080")) {
				t.Errorf("%s publishes %s beyond loopback; only nginx's public port may", name, s)
			}
		}
	}
	if len(cf.Services) != len(wantImage) {
		t.Errorf("services %d; want %v", len(cf.Services), wantImage)
	}
	if n := cf.Networks["zdml"]; !n.Internal || n.Name != "zdml" {
		t.Errorf("the colors' network %+v; want internal, named zdml", n)
	}
	for _, c := range []string{"blue", "green"} {
		svc := cf.Services[c]
		if _, ok := svc.Networks["zdml"]; !ok || len(svc.Networks) != 1 {
			t.Errorf("%s networks %v; want only the internal zdml", c, svc.Networks)
		}
		if !slices.ContainsFunc(svc.Volumes, func(v any) bool {
			s := fmt.Sprint(v)
			return strings.Contains(s, ":/models:ro") || strings.Contains(s, "/models") && strings.Contains(s, "read_only:true")
		}) {
			t.Errorf("%s: models not mounted read-only: %v", c, svc.Volumes)
		}
		if !slices.ContainsFunc(svc.Volumes, func(v any) bool {
			s := fmt.Sprint(v)
			return strings.HasPrefix(s, "data:/data:") || strings.Contains(s, "source:data ") && strings.Contains(s, "target:/data")
		}) {
			t.Errorf("%s: the shared chat history volume is not at /data: %v", c, svc.Volumes)
		}
	}
	if m := cf.Services["reconciler"].NetworkMode; m != "service:nginx" {
		t.Errorf("reconciler network_mode %q; want nginx's namespace (its admin listener is loopback-only)", m)
	}
	// Prometheus scrapes the reconciler's loopback-only API from inside
	// the same network namespace: its compose config must name the API
	// address the reconciler listens on, not a service name.
	if m := cf.Services["prometheus"].NetworkMode; m != "service:nginx" {
		t.Errorf("prometheus network_mode %q; want nginx's namespace, shared with the reconciler", m)
	}
	if got, want := composeScrapeTarget(t, "reconciler"), cf.Services["reconciler"].Environment["ZDML_API_ADDR"]; got != want || !loopbackAddr(want) {
		t.Errorf("monitoring/prometheus.compose.yml scrapes the reconciler at %q; want its loopback API %q", got, want)
	}
	wantProfiles := map[string]string{"nginx": "", "reconciler": "", "blue": "colors", "green": "colors", "prometheus": "monitoring", "grafana": "monitoring"}
	for name, want := range wantProfiles {
		if got := strings.Join(cf.Services[name].Profiles, ","); got != want {
			t.Errorf("%s: profiles %q; want %q (make up starts only nginx and the reconciler)", name, got, want)
		}
	}
}

// composeScrapeTarget reads the one target of a job in the compose stack's
// Prometheus config.
func composeScrapeTarget(t *testing.T, job string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "monitoring", "prometheus.compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName == job && len(sc.StaticConfigs) == 1 && len(sc.StaticConfigs[0].Targets) == 1 {
			return sc.StaticConfigs[0].Targets[0]
		}
	}
	t.Fatalf("prometheus.compose.yml: no single target for job %s", job)
	return ""
}

func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// memBytes reads a compose memory value (bytes, or "128m").
func memBytes(v any) int64 {
	s := strings.ToLower(fmt.Sprint(v))
	mult := int64(1)
	for suffix, m := range map[string]int64{"k": 1 << 10, "m": 1 << 20, "g": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
		}
	}
	var n int64
	fmt.Sscan(s, &n)
	return n * mult
}

// TestComposeStack runs the compose stack as a user would (make up), under
// its own names, subnet and ports: the reconciler deploys v1 from a git
// repository as containers, then v2 on a commit while clients chat
// through the nginx container, with no failed request.
func TestComposeStack(t *testing.T) {
	c := dockertest.Client(t)
	dockertest.RepoImages(t)
	dockertest.Images(t, "zdml")
	owner := dockertest.Owner(t, c, docker.LabelOwner)
	subnet := freeSubnet(t, c)
	e := &env{t: t, repo: filepath.Join(t.TempDir(), "repo")}
	testenv.GitRepo(t, e.repo)
	e.commit(desiredSpec{Version: "v1", ReadyTimeout: "120s"}.yaml(), "v1")
	public := testenv.FreeAddr(t)
	_, port, _ := strings.Cut(public, ":")
	first := subnet.Addr().Next()
	env := map[string]string{
		"ZDML_PREFIX": owner, "ZDML_OWNER": owner, "ZDML_REPO_DIR": e.repo, "ZDML_HOST_MODELS_DIR": testenv.ModelsDir(t),
		"ZDML_PUBLIC_PORT": port, "ZDML_PROMETHEUS_PORT": strings.Split(testenv.FreeAddr(t), ":")[1], "ZDML_SUBNET": subnet.String(),
		"ZDML_BLUE_IP": first.Next().Next().String(), "ZDML_GREEN_IP": first.Next().Next().Next().String(),
	}
	project := []string{"-p", owner}
	t.Cleanup(func() {
		// The colors are the reconciler's, not compose's: stop it, remove
		// them (they hold the network), then take the stack down.
		_, _ = compose(t, env, append(project, "stop", "reconciler")...)
		dockertest.RemoveOwned(t, c, docker.LabelOwner, owner)
		if out, err := compose(t, env, append(project, "down", "-v")...); err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
	})
	if out, err := compose(t, env, append(project, "up", "-d")...); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	st := composeSynced(t, owner, "v1", 3*time.Minute)
	history := chatBeforeSwap(t, public)
	loop := startClients(t, public, 4)
	loop.waitOK(t, 20)
	e.commit(desiredSpec{Version: "v2", ReadyTimeout: "120s"}.yaml(), "v2")
	st = composeSynced(t, owner, "v2", 3*time.Minute)
	loop.waitOK(t, 20)
	loop.check(t)
	history("green", "v2")
	if st.ActiveColor != "green" || st.LastDeploy == nil || st.LastDeploy.Outcome != OutcomeSucceeded {
		t.Errorf("status after v2: active %s, last deploy %+v", st.ActiveColor, st.LastDeploy)
	}
	ci, err := c.ContainerInspect(context.Background(), owner+"-green")
	if err != nil {
		t.Fatal(err)
	}
	if ip := ci.NetworkSettings.Networks[owner].IPAddress; ip != env["ZDML_GREEN_IP"] || len(ci.NetworkSettings.Ports) != 0 {
		t.Errorf("green at %s with ports %v; want only %s on the internal network", ip, ci.NetworkSettings.Ports, env["ZDML_GREEN_IP"])
	}
}

// composeSynced polls `zdml status --json` in the reconciler container.
func composeSynced(t *testing.T, prefix, version string, within time.Duration) StatusReport {
	t.Helper()
	var st StatusReport
	var last string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		out, err := exec.Command("docker", "exec", prefix+"-reconciler", "/zdml", "status", "--json").Output()
		st = StatusReport{} // omitted fields (step) must not keep an earlier value
		if err == nil {
			err = json.Unmarshal(out, &st)
		}
		if last = fmt.Sprintf("%s (%v)", out, err); err != nil {
			continue
		}
		if st.SyncState == SyncSynced && st.ActiveVersion == version && st.Step == "" {
			return st
		}
	}
	logs, _ := exec.Command("docker", "logs", "--tail", "30", prefix+"-reconciler").CombinedOutput()
	t.Fatalf("compose stack not synced on %s within %s; status %s\nreconciler log:\n%s", version, within, last, logs)
	return st
}

// freeSubnet picks a /24 in 172.30.0.0/16 that no Docker network uses.
func freeSubnet(t *testing.T, c *client.Client) netip.Prefix {
	t.Helper()
	nets, err := c.NetworkList(context.Background(), network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		n, _ := rand.Int(rand.Reader, big.NewInt(200))
		p := netip.MustParsePrefix(fmt.Sprintf("172.30.%d.0/24", 20+n.Int64()))
		if !slices.ContainsFunc(nets, func(s network.Summary) bool {
			return slices.ContainsFunc(s.IPAM.Config, func(c network.IPAMConfig) bool {
				q, err := netip.ParsePrefix(c.Subnet)
				return err == nil && q.Overlaps(p)
			})
		}) {
			return p
		}
	}
	t.Fatal("no free subnet in 172.30.0.0/16")
	return netip.Prefix{}
}

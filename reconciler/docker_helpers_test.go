package reconciler

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/spec"
)

// The Docker tests run against the real engine with images built here
// (docker/images.sh, cached by content). Every container, volume and
// network they make carries a per-test owner label and is removed by label
// when the test ends.

// dockerClient connects to the engine or fails loudly: CI may not skip.
func dockerClient(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("the Docker Engine is unreachable (%v): these tests need it; start dockerd", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	imagesOnce sync.Once
	imagesOut  []byte
	imagesErr  error
)

// testImages builds the model-server and nginx images once per test binary
// (a no-op when their content has not changed) and returns their names.
func testImages(t testing.TB) (modelserver, nginxImage string) {
	t.Helper()
	imagesOnce.Do(func() {
		cmd := exec.Command("make", "-s", "-C", testenv.RepoRoot(t), "images", "IMAGES=modelserver nginx")
		imagesOut, imagesErr = cmd.CombinedOutput()
	})
	if imagesErr != nil {
		t.Fatalf("make images: %v\n%s", imagesErr, imagesOut)
	}
	return envOr("ZDML_MODELSERVER_IMAGE", "zdml/modelserver:local"), envOr("ZDML_NGINX_IMAGE", "zdml/nginx:local")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// newOwner returns a unique owner label and removes everything carrying it
// when the test ends.
func newOwner(t testing.TB, c *client.Client) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	owner := "zdmltest-" + hex.EncodeToString(b)
	t.Cleanup(func() { removeOwned(t, c, owner) })
	return owner
}

func removeOwned(t testing.TB, c *client.Client, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", LabelOwner+"="+owner))
	list, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, ct := range list {
		if err := c.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("cleanup container %s: %v", ct.Names, err)
		}
	}
	vols, err := c.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err == nil {
		for _, v := range vols.Volumes {
			if err := c.VolumeRemove(ctx, v.Name, true); err != nil {
				t.Errorf("cleanup volume %s: %v", v.Name, err)
			}
		}
	}
	nets, err := c.NetworkList(ctx, network.ListOptions{Filters: f})
	if err == nil {
		for _, n := range nets {
			if err := c.NetworkRemove(ctx, n.ID); err != nil {
				t.Errorf("cleanup network %s: %v", n.Name, err)
			}
		}
	}
}

// newTestDocker returns a driver whose containers, volumes and network are
// named and labelled after a fresh owner, and its log.
func newTestDocker(t testing.TB, c *client.Client, opts ...DockerOption) (*Docker, *bytes.Buffer) {
	t.Helper()
	owner := newOwner(t, c)
	var logBuf syncBuffer
	base := []DockerOption{WithDockerClient(c), WithDockerOwner(owner), WithDockerPrefix(owner),
		WithDockerNetwork(owner), WithDockerModelsDir(testenv.ModelsDir(t)),
		WithDockerLogger(slog.New(slog.NewJSONHandler(&logBuf, nil)))}
	d, err := NewDocker(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return d, &logBuf.Buffer
}

// syncBuffer is a bytes.Buffer safe for a logger used from goroutines.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

// tinyInstance is a color serving the tiny generated model on a free port.
func tinyInstance(t testing.TB, color spec.Color, version string) Instance {
	t.Helper()
	image, _ := testImages(t)
	return Instance{Color: color, Addr: freePort(t), ModelName: "tiny", ModelVersion: version,
		ModelPath: testenv.Model(t, "tiny.gguf"), Image: image, Threads: 1, Parallel: 2, Ctx: 512,
		Memory: 256 << 20, CPUs: 1, Priority: PriorityLow, ShutdownTimeout: 5 * time.Second, ConfigHash: "cfg-" + version}
}

// awaitReady polls the color's /ready until it answers 200.
func awaitReady(t testing.TB, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %s: %s", addr, within, last)
}

// logLines decodes the driver's JSON log lines with the given message.
func logLines(buf *bytes.Buffer, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range bytes.Split(buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// cgroupFile reads a cgroup v1 file of a container (cgroupfs driver).
func cgroupFile(t testing.TB, controller, id, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, "docker", id, file))
	if err != nil {
		t.Fatalf("cgroup %s of %s: %v", controller, short(id), err)
	}
	return string(bytes.TrimSpace(b))
}

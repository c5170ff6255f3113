package docker

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// The Docker tests run against the real engine with images built here
// (docker/images.sh, cached by content). Every container, volume and
// network they make carries a per-test owner label and is removed by label
// when the test ends.

// newTestDocker returns a driver whose containers, volumes and network are
// named and labelled after a fresh owner, and its log.
func newTestDocker(t testing.TB, c *client.Client, opts ...Option) (*Docker, *bytes.Buffer) {
	t.Helper()
	owner := dockertest.Owner(t, c, LabelOwner)
	var logBuf syncBuffer
	base := []Option{WithClient(c), WithOwner(owner), WithPrefix(owner),
		WithNetwork(owner), WithModelsDir(testenv.ModelsDir(t)),
		WithLogger(slog.New(slog.NewJSONHandler(&logBuf, nil)))}
	d, err := New(append(base, opts...)...)
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
func tinyInstance(t testing.TB, color spec.Color, version string) driver.Instance {
	t.Helper()
	image, _ := dockertest.RepoImages(t)
	return driver.Instance{Color: color, Addr: testenv.FreeAddr(t), ModelName: "tiny", ModelVersion: version,
		ModelPath: testenv.Model(t, "tiny.gguf"), Image: image, Threads: 1, Parallel: 2, Ctx: 512,
		Memory: 256 << 20, CPUs: 1, Priority: driver.PriorityLow, ShutdownTimeout: 5 * time.Second, ConfigHash: "cfg-" + version}
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

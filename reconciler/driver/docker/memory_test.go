package docker

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"golang.org/x/sys/unix"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestDockerSharedModelPages: both colors bind-mount the same models
// directory read-only and mmap the same GGUF file, so its pages are in
// memory once. smaps shows each process mapping all of them as shared,
// and the page cache is charged to one cgroup, never to both.
func TestDockerSharedModelPages(t *testing.T) {
	ctx := context.Background()
	c := dockertest.Client(t)
	d, _ := newTestDocker(t, c)
	model := testenv.Model(t, "demo-v1.gguf")
	fi, err := os.Stat(model)
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	dropPageCache(t, model) // so the cgroup figures show who is charged for the pages
	mem := map[spec.Color]memFigures{}
	for _, color := range spec.Colors {
		inst := tinyInstance(t, color, "v1")
		inst.ModelName, inst.ModelPath, inst.Memory, inst.Priority = "demo", model, 512<<20, driver.PriorityNormal
		if _, err := d.Start(ctx, inst); err != nil {
			t.Fatal(err)
		}
		awaitReady(t, inst.Addr, 120*time.Second)
		chat(t, inst.Addr) // a generation reads every weight
	}
	for _, color := range spec.Colors {
		mem[color] = readMem(t, c, d.ContainerName(color))
		t.Logf("%s: %s", color, mem[color])
	}
	b, g := mem[spec.Blue], mem[spec.Green]
	t.Logf("model file %d MB; RSS sum %d MB, PSS sum %d MB; cgroup file cache sum %d MB, cgroup usage sum %d MB",
		size>>20, (b.rss+g.rss)>>20, (b.pss+g.pss)>>20, (b.cache+g.cache)>>20, (b.usage+g.usage)>>20)
	for color, m := range mem {
		if m.sharedClean < size*8/10 {
			t.Errorf("%s maps %d MB of shared clean pages; want most of the %d MB model shared", color, m.sharedClean>>20, size>>20)
		}
	}
	if saved := (b.rss + g.rss) - (b.pss + g.pss); saved < size*7/10 {
		t.Errorf("PSS saves only %d MB against RSS; want about one model (%d MB) counted once", saved>>20, size>>20)
	}
	// Each cgroup's cache also holds the binary and the chat database: a
	// model charged to both would put the sum above two models.
	if b.cache+g.cache >= 2*size {
		t.Errorf("the cgroups hold %d MB of file cache for a %d MB model: counted twice", (b.cache+g.cache)>>20, size>>20)
	}
}

// memFigures are one container's memory as the kernel counts it.
type memFigures struct {
	rss, pss, sharedClean int64 // smaps_rollup of the model server, bytes
	cache, usage          int64 // cgroup v1 memory.stat total_cache and memory.usage_in_bytes
}

func (m memFigures) String() string {
	return fmt.Sprintf("RSS %d MB, PSS %d MB, shared clean %d MB; cgroup cache %d MB, usage %d MB",
		m.rss>>20, m.pss>>20, m.sharedClean>>20, m.cache>>20, m.usage>>20)
}

func readMem(t *testing.T, c *client.Client, name string) memFigures {
	t.Helper()
	ci, err := c.ContainerInspect(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var m memFigures
	smaps := kv(t, fmt.Sprintf("/proc/%d/smaps_rollup", ci.State.Pid), 1024)
	m.rss, m.pss, m.sharedClean = smaps["Rss:"], smaps["Pss:"], smaps["Shared_Clean:"]
	stat := kv(t, "/sys/fs/cgroup/memory/docker/"+ci.ID+"/memory.stat", 1)
	m.cache = stat["total_cache"]
	m.usage, _ = strconv.ParseInt(cgroupFile(t, "memory", ci.ID, "memory.usage_in_bytes"), 10, 64)
	return m
}

// kv reads "key value [unit]" lines, multiplying values by unit.
func kv(t *testing.T, path string, unit int64) map[string]int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 {
			if v, err := strconv.ParseInt(fs[1], 10, 64); err == nil {
				out[fs[0]] = v * unit
			}
		}
	}
	return out
}

// chat sends one short generation request to a color.
func chat(t *testing.T, addr string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/chat", "application/json", strings.NewReader(`{"message":"Say hello","max_tokens":4}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("chat on %s: %s", addr, resp.Status)
	}
}

// dropPageCache asks the kernel to drop the file's clean cached pages that
// no process maps, so the next reader's cgroup is charged for them.
func dropPageCache(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Logf("fadvise %s: %v", path, err)
	}
}

package modelserver

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Memory is the process's memory as the kernel accounts it. RSS counts every
// resident page; PSS divides each shared page among the processes mapping it,
// so two colors mapping one model file count its pages once in total.
type Memory struct {
	RSS int64 `json:"rss_bytes"`
	PSS int64 `json:"pss_bytes"`
}

// ReadMemory reads the current process's totals from /proc/self/smaps_rollup.
// The kernel walks every page of every mapping to add up PSS: ~45 ms on the
// 1 GB model. ReadRSS is the cheap reading.
func ReadMemory() (Memory, error) { return readMemory("/proc/self/smaps_rollup") }

// ReadRSS reads the current process's resident set size from
// /proc/self/statm, a counter the kernel keeps: no page walk.
func ReadRSS() (int64, error) { return readRSS("/proc/self/statm") }

func readRSS(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("read rss: %s: want size and resident pages, got %q", path, b)
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read rss: %s: %w", path, err)
	}
	return pages * int64(os.Getpagesize()), nil
}

func readMemory(path string) (Memory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	var m Memory
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) != 3 || string(f[2]) != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			continue
		}
		switch string(f[0]) {
		case "Rss:":
			m.RSS, found = kb<<10, found+1
		case "Pss:":
			m.PSS, found = kb<<10, found+1
		}
	}
	if found != 2 {
		return m, fmt.Errorf("read memory: no Rss and Pss in %s", path)
	}
	return m, nil
}

// Bounds of how long a memory reading is reused.
const (
	// memoryFresh is the shortest: a reading is at most this old when it
	// costs little (the tiny and demo models: well under a millisecond).
	memoryFresh = time.Second
	// memoryCostFactor keeps reading PSS at 0.5 % of a core at most: a
	// reading is reused for 200 times what it took. smaps_rollup walks every
	// page of every mapping, ~45 ms of kernel time on the 1 GB model (perf:
	// smaps_account), so there a reading lasts ~9 s.
	memoryCostFactor = 200
	// memoryStale is the longest, whatever a reading costs.
	memoryStale = 30 * time.Second
)

// memoryCache shares one memory reading among /ready, /health/deep and
// /metrics for as long as it is fresh (see memoryCostFactor), and lets only
// one reading run at a time: probes at any rate spend at most 0.5 % of a
// core on it.
type memoryCache struct {
	read func() (Memory, error)

	mu  sync.Mutex
	mem Memory
	err error
	at  time.Time // when the reading was taken; zero before the first
	ttl time.Duration
}

func newMemoryCache(read func() (Memory, error)) *memoryCache {
	return &memoryCache{read: read}
}

// get returns the current reading and when it was taken, reading again
// when it is older than its cost allows.
func (c *memoryCache) get() (Memory, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || time.Since(c.at) >= c.ttl {
		start := time.Now()
		c.mem, c.err = c.read()
		c.at = time.Now()
		c.ttl = min(max(memoryCostFactor*c.at.Sub(start), memoryFresh), memoryStale)
	}
	return c.mem, c.at, c.err
}

var containerIDRe = regexp.MustCompile(`(?:/docker/|/containers/|docker-)([0-9a-f]{64})`)

// containerID returns the Docker container id the process runs in, from its
// cgroup (v1) or from the mounts Docker makes for /etc/hostname (v2), or ""
// outside a container. It never changes, so it is read once.
var containerID = sync.OnceValue(readContainerID)

func readContainerID() string {
	for _, p := range []string{"/proc/self/cgroup", "/proc/self/mountinfo"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if m := containerIDRe.FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	return ""
}

package modelserver

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
)

// Memory is the process's memory as the kernel accounts it. RSS counts every
// resident page; PSS divides each shared page among the processes mapping it,
// so two colors mapping one model file count its pages once in total.
type Memory struct {
	RSS int64 `json:"rss_bytes"`
	PSS int64 `json:"pss_bytes"`
}

// ReadMemory reads the current process's totals from /proc/self/smaps_rollup.
func ReadMemory() (Memory, error) { return readMemory("/proc/self/smaps_rollup") }

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

var containerIDRe = regexp.MustCompile(`(?:/docker/|/containers/|docker-)([0-9a-f]{64})`)

// containerID returns the Docker container id the process runs in, from its
// cgroup (v1) or from the mounts Docker makes for /etc/hostname (v2), or ""
// outside a container.
func containerID() string {
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

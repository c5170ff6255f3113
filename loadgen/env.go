package loadgen

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/buildinfo"
)

// Environment is the machine and software a run was measured on; it goes
// into run.json so that a report made later still says where it came from.
type Environment struct {
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	Kernel      string `json:"kernel,omitempty"`
	CPUModel    string `json:"cpu_model,omitempty"`
	CPUs        int    `json:"cpus"`
	MemoryBytes uint64 `json:"memory_bytes,omitempty"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute load averages when the
	// run began: other work on the machine shows in the latencies.
	LoadAvg   string      `json:"load_avg,omitempty"`
	GoVersion string      `json:"go_version"`
	Zdml      string      `json:"zdml_version,omitempty"`
	Vegeta    string      `json:"vegeta_version,omitempty"`
	Nginx     string      `json:"nginx_version,omitempty"`
	Models    []ModelFile `json:"models,omitempty"`
}

// ModelFile is a model file a run served.
type ModelFile struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256,omitempty"`
}

// CaptureEnvironment describes this machine, the software versions and the
// model files named (relative to modelsDir).
func CaptureEnvironment(ctx context.Context, modelsDir string, models ...string) *Environment {
	e := &Environment{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	e.Kernel = strings.TrimSpace(readFirstLine("/proc/sys/kernel/osrelease"))
	e.CPUModel = cpuModel()
	e.MemoryBytes = memTotal()
	if f := strings.Fields(readFirstLine("/proc/loadavg")); len(f) >= 3 {
		e.LoadAvg = strings.Join(f[:3], " ")
	}
	e.Zdml, e.Vegeta = buildVersions()
	if e.Zdml == "" {
		e.Zdml = gitVersion(ctx)
	}
	e.Nginx = nginxVersion(ctx)
	seen := map[string]bool{}
	for _, m := range models {
		if m == "" || seen[m] {
			continue
		}
		seen[m] = true
		e.Models = append(e.Models, modelFile(filepath.Join(modelsDir, strings.TrimPrefix(m, "models/"))))
	}
	return e
}

func readFirstLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s, _ := bufio.NewReader(f).ReadString('\n')
	return s
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func memTotal() uint64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// buildVersions reads the zdml build's VCS revision and vegeta's version.
func buildVersions() (zdml, vegeta string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", ""
	}
	zdml = buildinfo.Revision(bi)
	for _, d := range bi.Deps {
		if d.Path == "github.com/tsenart/vegeta/v12" {
			vegeta = d.Version
		}
	}
	return zdml, vegeta
}

func nginxVersion(ctx context.Context) string {
	path, err := exec.LookPath("nginx")
	if err != nil {
		path = "/usr/sbin/nginx"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-v").CombinedOutput()
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(out))
	_, v, _ := strings.Cut(s, "nginx version: ")
	return strings.TrimPrefix(v, "nginx/")
}

// gitVersion is the working tree's commit, "+dirty" when it has changes:
// a binary built with several main packages at once carries no VCS stamp.
func gitVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rev, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(string(rev))
	if out, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(out) > 0 {
		v += "+dirty"
	}
	return v
}

func modelFile(path string) ModelFile {
	m := ModelFile{Name: filepath.Base(path)}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err == nil {
		m.Bytes, m.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	}
	return m
}

package loadgen

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// SamplesFile is the run directory's resource samples (JSON lines).
const SamplesFile = "samples.jsonl"

// DefaultSampleEvery is how often a run samples the stack when the
// scenario's sampling leaves it out.
const DefaultSampleEvery = 5 * time.Second

// Sampling is a scenario's sampling of the stack: every Every, the memory
// and open files of nginx, the reconciler and each color, the reconciler's
// goroutines, how many nginx workers and model servers run, and the disk
// the state directory uses.
type Sampling struct {
	Every spec.Duration `yaml:"every"`
}

// SampledStack is what a run's samples follow (run.json).
type SampledStack struct {
	StateDir      string `json:"state_dir"`
	ReconcilerPID int    `json:"reconciler_pid"`
	MetricsURL    string `json:"metrics_url"`
	Every         string `json:"every"`
}

// Subjects of a sample's process readings.
const (
	SubjectNginx      = "nginx" // the master and its workers, summed
	SubjectReconciler = "reconciler"
	SubjectBlue       = "blue"
	SubjectGreen      = "green"
)

// Sample is one reading of a stack.
type Sample struct {
	Time  time.Time    `json:"time"`
	Procs []ProcSample `json:"procs"`
	// Goroutines is the reconciler's go_goroutines (-1 when its /metrics
	// did not answer).
	Goroutines int `json:"reconciler_goroutines"`
	// NginxWorkers counts the nginx master's children (old workers still
	// finishing requests after a reload included).
	NginxWorkers int `json:"nginx_workers"`
	// ModelServers counts model-server processes of this stack, whether a
	// pid file names them or not: a leaked one counts too.
	ModelServers int `json:"model_servers"`
	// StateDir is the disk used (allocated blocks) under each top-level
	// entry of the state directory.
	StateDir map[string]int64 `json:"state_dir_bytes"`
	// Errors are the readings that failed, one message each.
	Errors []string `json:"errors,omitempty"`
}

// ProcSample is one subject's processes in a sample: a color's model
// server, the reconciler, or nginx's master and workers summed. A subject
// that does not run is absent.
type ProcSample struct {
	Name string `json:"name"`
	PIDs []int  `json:"pids"`
	RSS  int64  `json:"rss_bytes"`
	FDs  int    `json:"open_fds"`
}

// Proc returns the subject's reading, if it ran.
func (s Sample) Proc(name string) (ProcSample, bool) {
	for _, p := range s.Procs {
		if p.Name == name {
			return p, true
		}
	}
	return ProcSample{}, false
}

// StateDirBytes is the disk the whole state directory used.
func (s Sample) StateDirBytes() int64 {
	var n int64
	for _, b := range s.StateDir {
		n += b
	}
	return n
}

// ReadSamples reads a samples file; a missing file is no samples.
func ReadSamples(path string) ([]Sample, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	defer f.Close()
	var out []Sample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var s Sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return out, fmt.Errorf("samples %s line %d: %w", path, line, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

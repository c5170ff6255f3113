package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/procfs"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Sampler reads a stack's processes (through prometheus/procfs), the
// reconciler's /metrics and the state directory's disk use, every
// interval. A soak's report judges whether each reading stays flat.
type Sampler struct {
	stack  SampledStack
	every  time.Duration
	proc   procfs.FS
	client *http.Client
}

// NewSampler samples st every interval.
func NewSampler(st SampledStack, every time.Duration) (*Sampler, error) {
	p, err := procfs.NewDefaultFS()
	if err != nil {
		return nil, fmt.Errorf("sampler: %w", err)
	}
	st.Every = every.String()
	return &Sampler{stack: st, every: every, proc: p, client: &http.Client{Timeout: 2 * time.Second}}, nil
}

// Stack is what the sampler follows.
func (s *Sampler) Stack() SampledStack { return s.stack }

// Run takes a sample at once and then every interval until ctx ends,
// appending each to path as a JSON line, and returns them.
func (s *Sampler) Run(ctx context.Context, path string) ([]Sample, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("sampler: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	var out []Sample
	for {
		// A sample begun before the run ends is finished (each read is
		// bounded by the client's timeout): cut short, its last reading
		// would be an error the report shows as a gap.
		smp := s.Take(context.WithoutCancel(ctx))
		out = append(out, smp)
		if err := enc.Encode(smp); err != nil {
			return out, fmt.Errorf("sampler: %w", err)
		}
		if err := w.Flush(); err != nil {
			return out, fmt.Errorf("sampler: %w", err)
		}
		select {
		case <-ctx.Done():
			return out, nil
		case <-tick.C:
		}
	}
}

// Take reads one sample now.
func (s *Sampler) Take(ctx context.Context) Sample {
	smp := Sample{Time: time.Now(), Goroutines: -1, StateDir: map[string]int64{}}
	fail := func(what string, err error) { smp.Errors = append(smp.Errors, what+": "+err.Error()) }
	procs, err := s.table()
	if err != nil {
		fail("processes", err)
	}
	master := pidFile(filepath.Join(s.stack.StateDir, "nginx", "nginx.pid"))
	nginx := []int{}
	if _, ok := procs[master]; ok {
		nginx = append(nginx, master)
	}
	for pid, p := range procs {
		switch {
		case master > 0 && p.ppid == master:
			nginx = append(nginx, pid)
			smp.NginxWorkers++
		case p.modelServerOf(s.stack.StateDir):
			smp.ModelServers++
		}
	}
	s.addProc(&smp, SubjectNginx, nginx, fail)
	s.addProc(&smp, SubjectReconciler, alive(procs, s.stack.ReconcilerPID), fail)
	for _, c := range spec.Colors {
		s.addProc(&smp, string(c), alive(procs, pidFile(filepath.Join(s.stack.StateDir, "colors", string(c), "pid"))), fail)
	}
	if n, err := s.goroutines(ctx); err != nil {
		fail("goroutines", err)
	} else {
		smp.Goroutines = n
	}
	if err := diskUse(s.stack.StateDir, smp.StateDir); err != nil {
		fail("state dir", err)
	}
	return smp
}

// procEntry is a live process's parent and arguments.
type procEntry struct {
	ppid int
	args []string
}

func (p procEntry) modelServerOf(stateDir string) bool {
	if len(p.args) == 0 || filepath.Base(p.args[0]) != "modelserver" {
		return false
	}
	for _, a := range p.args[1:] {
		if strings.HasPrefix(a, stateDir+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// table lists every live process (zombies left out).
func (s *Sampler) table() (map[int]procEntry, error) {
	all, err := s.proc.AllProcs()
	if err != nil {
		return nil, err
	}
	out := make(map[int]procEntry, len(all))
	for _, p := range all {
		st, err := p.Stat()
		if err != nil || st.State == "Z" || st.State == "X" {
			continue // gone since the listing, or exited
		}
		args, _ := p.CmdLine()
		out[p.PID] = procEntry{ppid: st.PPID, args: args}
	}
	return out, nil
}

// addProc sums the RSS and open files of pids as one subject.
func (s *Sampler) addProc(smp *Sample, name string, pids []int, fail func(string, error)) {
	if len(pids) == 0 {
		return
	}
	ps := ProcSample{Name: name, PIDs: pids}
	for _, pid := range pids {
		p, err := s.proc.Proc(pid)
		if err != nil {
			continue
		}
		st, err := p.Stat()
		if err != nil {
			continue // exited between the listing and now
		}
		ps.RSS += int64(st.ResidentMemory())
		n, err := p.FileDescriptorsLen()
		if err != nil {
			fail(name+" open files", err)
		}
		ps.FDs += n
	}
	smp.Procs = append(smp.Procs, ps)
}

// goroutines reads go_goroutines from the reconciler's /metrics.
func (s *Sampler) goroutines(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.stack.MetricsURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", s.stack.MetricsURL, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	f, ok := fams["go_goroutines"]
	if !ok || len(f.GetMetric()) == 0 {
		return 0, fmt.Errorf("%s has no go_goroutines", s.stack.MetricsURL)
	}
	return int(f.GetMetric()[0].GetGauge().GetValue()), nil
}

// pidFile reads a pid file (0 when absent or malformed).
func pidFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func alive(procs map[int]procEntry, pid int) []int {
	if _, ok := procs[pid]; ok && pid > 0 {
		return []int{pid}
	}
	return nil
}

// diskUse adds up the blocks allocated under each top-level entry of dir,
// as du does; files that vanish while it walks are skipped.
func diskUse(dir string, into map[string]int64) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		var n int64
		_ = filepath.WalkDir(filepath.Join(dir, e.Name()), func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				}
			}
			return nil
		})
		into[e.Name()] = n
	}
	return nil
}

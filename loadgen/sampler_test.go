package loadgen

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// TestSamplerReadsAStack samples a stack made of real processes: this
// test process as the reconciler (its /metrics served by client_golang's
// Go collector), a real model server on the tiny model as blue, and a
// shell with two children in nginx's place (the sampler counts the pid
// file's children as workers). Each reading must be what /proc and the
// files say.
func TestSamplerReadsAStack(t *testing.T) {
	state := t.TempDir()
	for _, d := range []string{"nginx", "colors/blue", "colors/green"} {
		if err := os.MkdirAll(filepath.Join(state, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	blue := testenv.StartModelServer(t, "tiny.gguf", "--color", "blue", "--db", filepath.Join(state, "chat.db"))
	writePid(t, filepath.Join(state, "colors", "blue", "pid"), blue.Cmd.Process.Pid)
	writePid(t, filepath.Join(state, "colors", "green", "pid"), 999999999) // a color that is not running
	master := exec.Command("sh", "-c", "sleep 300 & sleep 300 & wait")
	master.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := master.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-master.Process.Pid, syscall.SIGKILL); _ = master.Wait() })
	writePid(t, filepath.Join(state, "nginx", "nginx.pid"), master.Process.Pid)
	if err := os.WriteFile(filepath.Join(state, "history.jsonl"), make([]byte, 100<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer metrics.Close()

	s, err := NewSampler(SampledStack{StateDir: state, ReconcilerPID: os.Getpid(), MetricsURL: metrics.URL}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var smp Sample
	// The shell forks its children after it starts: wait until both run.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		smp = s.Take(context.Background())
		if smp.NginxWorkers == 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(smp.Errors) > 0 {
		t.Errorf("readings failed: %v", smp.Errors)
	}
	if smp.NginxWorkers != 2 || smp.ModelServers != 1 {
		t.Errorf("nginx workers %d, model servers %d; want 2 and 1", smp.NginxWorkers, smp.ModelServers)
	}
	if smp.Goroutines < 2 {
		t.Errorf("goroutines %d; want this process's count from /metrics", smp.Goroutines)
	}
	for _, sub := range []string{SubjectReconciler, SubjectBlue, SubjectNginx} {
		p, ok := smp.Proc(sub)
		if !ok || p.RSS < 1<<20 || p.FDs < 3 {
			t.Errorf("%s: %+v (present %v); want its RSS and open files", sub, p, ok)
		}
	}
	if p, _ := smp.Proc(SubjectBlue); !slices.Equal(p.PIDs, []int{blue.Cmd.Process.Pid}) {
		t.Errorf("blue pids %v, want the model server's %d", p.PIDs, blue.Cmd.Process.Pid)
	}
	if p, _ := smp.Proc(SubjectNginx); len(p.PIDs) != 3 || p.PIDs[0] != master.Process.Pid {
		t.Errorf("nginx pids %v, want the master %d first and its 2 children", p.PIDs, master.Process.Pid)
	}
	if _, ok := smp.Proc(SubjectGreen); ok {
		t.Errorf("green is not running, yet sampled: %+v", smp.Procs)
	}
	if n := smp.StateDir["history.jsonl"]; n < 100<<10 {
		t.Errorf("history.jsonl uses %d bytes on disk, want at least the 100 KiB written", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	path := filepath.Join(t.TempDir(), SamplesFile)
	took, err := s.Run(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	read, err := ReadSamples(path)
	if err != nil || len(read) != len(took) || len(took) < 3 {
		t.Fatalf("run took %d samples in 2.5 s at 1 s, the file holds %d (err %v); want 3, and the same", len(took), len(read), err)
	}
}

func writePid(t *testing.T, path string, pid int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

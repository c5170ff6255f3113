package kubecluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
)

// component is one of the cluster's processes.
type component struct {
	name   string
	argv   []string
	inNode bool // runs in the node's network namespace
}

// process is a started component: its pid and, for a child of this
// process, the channel closed when it has exited and been reaped.
type process struct {
	component
	pid  int
	done chan struct{}
}

// start runs c with its output in logs/<name>.log. A detached process
// (kube-up) gets its own session and outlives this one; otherwise the
// kernel kills it when this process dies, so a killed test binary leaves
// no cluster running (its leftovers are torn down by the next claimSlot).
func start(l layout, c component, detached bool) (*process, error) {
	argv := c.argv
	if c.inNode {
		argv = nsenter(l, argv...)
	}
	logPath := l.path("logs", c.name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = l.Dir
	if detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	p := &process{component: c, pid: cmd.Process.Pid}
	if detached {
		_ = cmd.Process.Release()
		return p, nil
	}
	p.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// exited reports whether p has exited.
func (p *process) exited() bool {
	if p.done != nil {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}
	return !procfs.Alive(p.pid)
}

// stopPID sends SIGTERM to pid, waits up to grace for it to exit, then
// sends SIGKILL and waits again. exited tells when it is gone.
func stopPID(pid int, grace time.Duration, exited func() bool) error {
	if exited() {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitFor(grace, exited) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitFor(10*time.Second, exited) {
		return nil
	}
	return fmt.Errorf("pid %d did not exit after SIGKILL", pid)
}

// waitFor polls cond every 20 ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pidsWithArg lists the processes whose command line mentions s (the
// cluster's directory, which every one of its processes, containerd's
// shims included, has in its arguments).
func pidsWithArg(s string) []int {
	all, _ := procfs.PIDs()
	self := os.Getpid()
	var out []int
	for _, pid := range all {
		if pid == self {
			continue
		}
		for _, a := range procfs.Cmdline(pid) {
			if strings.Contains(a, s) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// logTail is the last n lines of a component's log.
func logTail(l layout, name string, n int) string {
	b, err := os.ReadFile(l.path("logs", name+".log"))
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

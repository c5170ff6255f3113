package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
)

var _ Runner = (*Local)(nil)

// Local runs nginx as a process of this machine, in the foreground of its
// own session (daemon off, setsid): killing or interrupting zdml leaves it
// serving, and a later zdml adopts it through Dir/nginx.pid. While this
// process lives it reaps the nginx it started, so no zombie is left behind.
type Local struct {
	dir    string
	binary string
	log    *slog.Logger

	mu     sync.Mutex
	exited chan struct{} // closed when the nginx this Local started exits
}

// LocalOption configures a Local.
type LocalOption func(*Local)

// WithBinary sets the nginx binary (default: nginx on PATH, else /usr/sbin/nginx).
func WithBinary(path string) LocalOption { return func(l *Local) { l.binary = path } }

// WithLocalLogger sets the logger.
func WithLocalLogger(log *slog.Logger) LocalOption { return func(l *Local) { l.log = log } }

// NewLocal returns a Local runner for the config directory dir (created on
// Start), typically <state>/nginx.
func NewLocal(dir string, opts ...LocalOption) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("nginx dir: %w", err)
	}
	l := &Local{dir: abs, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(l)
	}
	if l.binary == "" {
		l.binary, err = FindBinary()
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

// FindBinary finds nginx on PATH or in /usr/sbin (Debian puts it there, off
// a normal user's PATH).
func FindBinary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("nginx not found: install it (apt-get install nginx) or run make deps")
}

// Dir returns the config directory.
func (l *Local) Dir() string { return l.dir }

// Binary returns the nginx binary used.
func (l *Local) Binary() string { return l.binary }

// args are the command-line flags every invocation shares. daemon and user
// are set here, not in the config, because they depend on how nginx runs: in
// a container the same config runs with daemon off as PID 1, and as root
// workers would otherwise run as nobody, who cannot enter a private state
// directory.
func (l *Local) args(conf string) []string {
	global := "daemon off;"
	if os.Geteuid() == 0 {
		global += " user root;"
	}
	return []string{"-p", l.dir + "/", "-e", "logs/error.log", "-c", conf, "-g", global}
}

// prepare creates the directories nginx needs under Dir.
func (l *Local) prepare() error {
	for _, d := range []string{"logs", "temp"} {
		if err := os.MkdirAll(filepath.Join(l.dir, d), 0o755); err != nil {
			return fmt.Errorf("nginx dir: %w", err)
		}
	}
	return nil
}

// Test runs nginx -t on Dir/file.
func (l *Local) Test(ctx context.Context, file string) error {
	if err := l.prepare(); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, l.binary, append([]string{"-t", "-q"}, l.args(filepath.Join(l.dir, file))...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nginx -t %s: %w: %s", file, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Start starts nginx unless it already runs.
func (l *Local) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st, err := l.Status(ctx); err != nil || st.Running {
		return err
	}
	if err := l.prepare(); err != nil {
		return err
	}
	if err := l.killOrphans(ctx); err != nil {
		return fmt.Errorf("start nginx: %w", err)
	}
	_ = os.Remove(l.pidFile()) // stale: its process is gone
	out, err := os.OpenFile(filepath.Join(l.dir, "logs", "nginx.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("nginx output: %w", err)
	}
	defer out.Close()
	// Not CommandContext: nginx must outlive ctx and this process.
	cmd := exec.Command(l.binary, l.args(filepath.Join(l.dir, ConfFile))...)
	cmd.Dir = l.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	offset, _ := out.Seek(0, 2)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nginx: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	l.exited = exited
	return l.awaitStart(ctx, cmd.Process.Pid, exited, offset)
}

// awaitStart waits until nginx has written its pid file (it does so once
// its listeners are bound) or has exited with an error.
func (l *Local) awaitStart(ctx context.Context, pid int, exited <-chan struct{}, offset int64) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if p, err := l.readPID(); err == nil && p == pid {
			l.log.Info("nginx started", "pid", pid, "dir", l.dir)
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("start nginx: exited: %s", l.outputSince(offset))
		case <-ctx.Done():
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("start nginx: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// outputSince returns what nginx printed since offset, for error messages.
func (l *Local) outputSince(offset int64) string {
	b, err := os.ReadFile(filepath.Join(l.dir, "logs", "nginx.out"))
	if err != nil || int64(len(b)) < offset {
		return "no output"
	}
	return strings.TrimSpace(string(b[offset:]))
}

// Reload sends SIGHUP to the master.
func (l *Local) Reload(ctx context.Context) error {
	st, err := l.Status(ctx)
	if err != nil {
		return err
	}
	if !st.Running {
		return ErrNotRunning
	}
	if err := syscall.Kill(st.PID, syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload nginx pid %d: %w", st.PID, err)
	}
	l.log.Info("nginx reload signalled", "pid", st.PID)
	return nil
}

// Stop quits nginx gracefully, then fast when half of ctx's time is gone,
// then kills master and workers when ctx ends.
func (l *Local) Stop(ctx context.Context) error {
	st, err := l.Status(ctx)
	if err != nil || !st.Running {
		return err
	}
	workers, _ := ProcWorkers(st.PID)
	_ = syscall.Kill(st.PID, syscall.SIGQUIT)
	fast := time.After(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok {
		fast = time.After(time.Until(dl) / 2)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for procfs.Alive(st.PID) {
		select {
		case <-fast:
			_ = syscall.Kill(st.PID, syscall.SIGTERM)
		case <-ctx.Done():
			for _, w := range workers {
				_ = syscall.Kill(w.PID, syscall.SIGKILL)
			}
			_ = syscall.Kill(st.PID, syscall.SIGKILL)
			return fmt.Errorf("stop nginx pid %d: killed: %w", st.PID, context.Cause(ctx))
		case <-tick.C:
		}
	}
	_ = os.Remove(l.pidFile())
	l.log.Info("nginx stopped", "pid", st.PID)
	return nil
}

// Status reads the pid file and checks that the process is alive and is an
// nginx master for this directory, not a stranger that reused the pid.
func (l *Local) Status(ctx context.Context) (Status, error) {
	pid, err := l.readPID()
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errEmptyPID) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	if !procfs.Alive(pid) || !l.isOurMaster(pid) {
		return Status{}, nil
	}
	return Status{Running: true, PID: pid, ID: "pid " + strconv.Itoa(pid)}, nil
}

// errEmptyPID: `nginx -t` creates an empty pid file, and a starting master
// truncates it before writing.
var errEmptyPID = errors.New("empty pid file")

func (l *Local) pidFile() string { return filepath.Join(l.dir, "nginx.pid") }

func (l *Local) readPID() (int, error) {
	b, err := os.ReadFile(l.pidFile())
	if err != nil {
		return 0, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return 0, errEmptyPID
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("nginx pid file %s: malformed %q", l.pidFile(), b)
	}
	return pid, nil
}

// isOurMaster checks the process title nginx sets on its master:
// "nginx: master process /usr/sbin/nginx -p DIR/ ...".
func (l *Local) isOurMaster(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	title := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
	return strings.Contains(title, "nginx: master process") && strings.Contains(title, " -p "+l.dir+"/ ")
}

// Workers lists the running master's workers (see ProcWorkers).
func (l *Local) Workers(ctx context.Context) ([]Worker, error) {
	st, err := l.Status(ctx)
	if err != nil || !st.Running {
		return nil, err
	}
	return ProcWorkers(st.PID)
}

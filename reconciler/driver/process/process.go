package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/portcheck"
	"github.com/zero-downtime-ml/zdml/modelserver/modelclient"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

var _ driver.Driver = (*Process)(nil)

// Files of one color under <state>/colors/<color>/.
const (
	pidFileName      = "pid"
	instanceFileName = "instance.json"
	logFileName      = "modelserver.log"
)

// Process is the embedded default driver: each color is a local model
// server process on its own port, in its own session (setsid), so it
// survives the reconciler and an interrupt of its terminal; nginx keeps
// routing to it. A pid file and instance.json under the color's directory
// let a restarted reconciler adopt it, checked against the server's own
// identity on /health/deep (instance_id and pid).
type Process struct {
	stateDir string
	binary   string
	nice     string // the nice(1) binary, "" when absent
	lowNice  int    // nice of PriorityLow (DefaultLowNice)
	log      *slog.Logger
	client   *modelclient.Client

	mu    sync.Mutex
	procs map[spec.Color]*child // processes this driver started and reaps
}

// child is a process started by this driver: Wait runs in the background,
// so no zombie is left and an exit is seen at once.
type child struct {
	pid  int
	done chan struct{}
	err  error // set before done is closed
}

// New returns the process driver. cfg.Modelserver is the model
// server binary.
func New(cfg driver.Config) (*Process, error) {
	if cfg.Modelserver == "" {
		return nil, errors.New("process driver: no model server binary (--modelserver)")
	}
	bin, err := filepath.Abs(cfg.Modelserver)
	if err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	dir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nice, _ := exec.LookPath("nice")
	return &Process{stateDir: dir, binary: bin, nice: nice, lowNice: DefaultLowNice, log: log.With("driver", "process"),
		client: modelclient.New(), procs: map[spec.Color]*child{}}, nil
}

// Name returns "process".
func (p *Process) Name() string { return spec.RuntimeProcess }

func (p *Process) dir(c spec.Color) string { return filepath.Join(p.stateDir, "colors", string(c)) }

// dbPath is the chat history both colors share.
func (p *Process) dbPath() string { return filepath.Join(p.stateDir, driver.ChatDBFile) }

// Start runs inst as a model server process, or adopts the one running
// the same config on the same address. A color running anything else is
// an error: the caller stops it first.
func (p *Process) Start(ctx context.Context, inst driver.Instance) (driver.Status, error) {
	if !inst.Color.Valid() {
		return driver.Status{}, fmt.Errorf("start: bad color %q", inst.Color)
	}
	st, err := p.Inspect(ctx, inst.Color)
	if err != nil {
		return st, err
	}
	if st.Running {
		if st.ConfigHash == inst.ConfigHash && st.Addr == inst.Addr {
			p.log.Info("adopted running color", "color", inst.Color, "pid", st.ID)
			return st, nil
		}
		return st, fmt.Errorf("start %s: it already runs version %s (pid %s); stop it first", inst.Color, st.ModelVersion, st.ID)
	}
	if err := portcheck.Free(inst.Addr); err != nil {
		return driver.Status{Color: inst.Color}, fmt.Errorf("start %s: %w", inst.Color, err)
	}
	return p.spawn(inst)
}

func (p *Process) args(inst driver.Instance) []string {
	a := []string{
		"--model", inst.ModelPath, "--addr", inst.Addr, "--color", string(inst.Color),
		"--model-name", inst.ModelName, "--model-version", inst.ModelVersion,
		"--threads", strconv.Itoa(inst.Threads), "--parallel", strconv.Itoa(inst.Parallel),
		"--ctx", strconv.Itoa(inst.Ctx), "--db", p.dbPath(),
	}
	if inst.ModelSHA256 != "" {
		a = append(a, "--model-sha256", inst.ModelSHA256)
	}
	if inst.Memory > 0 {
		a = append(a, "--memory-limit", strconv.FormatInt(int64(inst.Memory), 10))
	}
	if inst.ShutdownTimeout > 0 {
		a = append(a, "--shutdown-timeout", inst.ShutdownTimeout.String())
	}
	return a
}

// spawn starts the process. A low-priority start execs through nice(1),
// so every thread the server ever creates inherits the low nice from the
// start.
func (p *Process) spawn(inst driver.Instance) (driver.Status, error) {
	if _, err := os.Stat(p.binary); err != nil {
		return driver.Status{}, fmt.Errorf("start %s: model server binary: %w (run make build, or set --modelserver)", inst.Color, err)
	}
	dir := p.dir(inst.Color)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return driver.Status{}, fmt.Errorf("start %s: %w", inst.Color, err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, logFileName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return driver.Status{}, fmt.Errorf("start %s: %w", inst.Color, err)
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, 2)
	args := p.args(inst)
	name, argv := p.binary, args
	if inst.Priority == driver.PriorityLow && p.nice != "" {
		name, argv = p.nice, append([]string{"-n", strconv.Itoa(p.lowNice), p.binary}, args...)
	}
	// Not CommandContext: the server must outlive ctx and this process.
	cmd := exec.Command(name, argv...)
	cmd.Dir, cmd.Stdout, cmd.Stderr, cmd.Env = dir, logf, logf, childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return driver.Status{}, fmt.Errorf("start %s: %w", inst.Color, err)
	}
	c := &child{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	p.mu.Lock()
	p.procs[inst.Color] = c
	p.mu.Unlock()
	rec := instanceRecord{Color: inst.Color, PID: c.pid, Addr: inst.Addr, ModelName: inst.ModelName, Version: inst.ModelVersion,
		ModelPath: inst.ModelPath, ConfigHash: inst.ConfigHash, Priority: inst.Priority, StartedAt: time.Now().UTC(),
		LogOffset: offset, Args: args}
	if err := p.writeRecord(rec); err != nil {
		_ = syscall.Kill(c.pid, syscall.SIGKILL)
		return driver.Status{}, fmt.Errorf("start %s: %w", inst.Color, err)
	}
	if inst.Priority == driver.PriorityLow {
		// nice(1) covered the threads; the session's autogroup, which
		// orders this color against the other, is set here. Without a
		// nice(1) binary the threads are reniced too.
		err := setAutogroupNice(c.pid, p.lowNice)
		if p.nice == "" {
			err = setProcessPriority(c.pid, p.lowNice)
		}
		if err != nil {
			p.log.Warn("lower priority of standby", "color", inst.Color, "err", err)
		}
	}
	p.log.Info("started color", "color", inst.Color, "pid", c.pid, "version", inst.ModelVersion, "addr", inst.Addr, "priority", inst.Priority)
	return rec.status(), nil
}

// childEnv is this process's environment without ZDML_* variables: the
// model server reads its own ZDML_* fallbacks, and the reconciler's must
// not leak into it.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "ZDML_") })
}

package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
	"github.com/zero-downtime-ml/zdml/spec"
)

// StackConfig says how to start a managed stack.
type StackConfig struct {
	Zdml        string // the zdml binary (runs `zdml reconcile`)
	Modelserver string // the model-server binary
	ModelsDir   string
	Runtime     string // spec.runtime: process (default) or docker
	Image       string // spec.image, for runtime docker
	// Dir holds the stack's repository, state and logs; a new temporary
	// directory when empty.
	Dir string
	// ReadyTimeout bounds the first deploy (default 3 minutes).
	ReadyTimeout time.Duration
	Log          *slog.Logger
}

// Stack is a whole zero-downtime-ml stack started for a load test: a
// temporary git repository holding desired.yaml, and the reconciler daemon
// (`zdml reconcile`) watching it with its own state directory, which
// starts nginx and the model servers. Every address is a free loopback
// port, never a default one, so it cannot collide with a user's stack.
type Stack struct {
	cfg                             StackConfig
	Dir, Repo, StateDir             string
	Public, Admin, API, Blue, Green string
	cmd                             *exec.Cmd
	exited                          chan struct{}
	ownDir                          bool
}

// StartStack starts a stack serving st and waits until it is synced.
func StartStack(ctx context.Context, cfg StackConfig, st StackSpec) (*Stack, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Runtime == "" {
		cfg.Runtime = spec.RuntimeProcess
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 3 * time.Minute
	}
	s := &Stack{cfg: cfg, Dir: cfg.Dir, exited: make(chan struct{})}
	if s.Dir == "" {
		d, err := os.MkdirTemp("", "zdml-loadtest-")
		if err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
		s.Dir, s.ownDir = d, true
	}
	s.Repo, s.StateDir = filepath.Join(s.Dir, "repo"), filepath.Join(s.Dir, "state")
	if err := s.initRepo(ctx, st); err != nil {
		return nil, err
	}
	if err := s.pickPorts(); err != nil {
		return nil, err
	}
	if err := s.startDaemon(); err != nil {
		return nil, err
	}
	if err := s.waitSynced(ctx, st.Model.Version); err != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return nil, errors.Join(err, s.Stop(sctx))
	}
	return s, nil
}

func (s *Stack) initRepo(ctx context.Context, st StackSpec) error {
	if err := os.MkdirAll(s.Repo, 0o755); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	data, err := InitialDesired(st, s.cfg.Runtime, s.cfg.Image)
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.Repo, "desired.yaml"), data, 0o644); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	if _, err := git(ctx, s.Repo, "init", "-q", "-b", "main"); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	_, err = Commit(ctx, s.Repo, "initial desired state from zdml loadtest", "desired.yaml")
	return err
}

// pickPorts reserves five free loopback ports at once (so none repeats).
func (s *Stack) pickPorts() error {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	addrs := []*string{&s.Public, &s.Admin, &s.API, &s.Blue, &s.Green}
	for _, a := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("stack: free port: %w", err)
		}
		lns = append(lns, l)
		*a = l.Addr().String()
	}
	return nil
}

func (s *Stack) args() []string {
	return []string{"reconcile", "--repo", s.Repo, "--branch", "main", "--file", "desired.yaml",
		"--state-dir", s.StateDir, "--models-dir", s.cfg.ModelsDir, "--modelserver", s.cfg.Modelserver,
		"--public-addr", s.Public, "--admin-addr", s.Admin, "--api-addr", s.API,
		"--blue-addr", s.Blue, "--green-addr", s.Green}
}

func (s *Stack) startDaemon() error {
	logf, err := os.Create(filepath.Join(s.Dir, "reconciler.log"))
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(s.cfg.Zdml, s.args()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: Ctrl-C reaches only us, and we stop the
	// daemon, then its model servers and nginx, in that order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "ZDML_POLL=1s")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("stack: start %s reconcile: %w", s.cfg.Zdml, err)
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); close(s.exited) }()
	s.cfg.Log.Info("reconciler started", "pid", cmd.Process.Pid, "dir", s.Dir, "public", s.Public, "api", s.API)
	return nil
}

// waitSynced waits until the reconciler serves version and nginx answers.
func (s *Stack) waitSynced(ctx context.Context, version string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	c := reconciler.NewClient(s.API)
	var last reconciler.StatusReport
	for {
		st, err := c.Status(ctx)
		if err == nil {
			last = st
			if st.SyncState == "synced" && st.ActiveVersion == version {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("stack: the reconciler exited:\n%s", s.LogTail(20))
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return fmt.Errorf("stack: interrupted while starting")
			}
			return fmt.Errorf("stack: not synced on %s within %s (last status %+v): %w\n%s",
				version, s.cfg.ReadyTimeout, last, ctx.Err(), s.LogTail(20))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// PublicURL is nginx's public listener.
func (s *Stack) PublicURL() string { return "http://" + s.Public }

// APIURL is the reconciler's API.
func (s *Stack) APIURL() string { return "http://" + s.API }

// EventsPath is the reconciler's events.jsonl.
func (s *Stack) EventsPath() string { return filepath.Join(s.StateDir, reconciler.EventsFile) }

// Sampled is what a Sampler follows of this stack.
func (s *Stack) Sampled() SampledStack {
	return SampledStack{StateDir: s.StateDir, ReconcilerPID: s.cmd.Process.Pid, MetricsURL: s.APIURL() + "/metrics"}
}

// Deployer commits to the stack's repository.
func (s *Stack) Deployer() *GitOps {
	return &GitOps{Repo: s.Repo, File: "desired.yaml", APIURL: s.APIURL()}
}

// LogTail is the last n lines of the reconciler's log.
func (s *Stack) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "reconciler.log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

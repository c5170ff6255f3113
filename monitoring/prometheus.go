package monitoring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
)

// Server is a Prometheus process from the system package (Debian's
// prometheus), configured by zdml and keeping everything under one
// directory: prometheus.yml, rules/, data/ and prometheus.log.
type Server struct {
	dir       string
	bin       string
	listen    string
	scrape    ScrapeConfig
	retention time.Duration
	log       *slog.Logger

	cmd  *exec.Cmd
	done chan struct{}
	err  error // the process's exit, valid once done is closed
}

// Option configures a Server.
type Option func(*Server)

// WithBinary sets the prometheus executable (default "prometheus" on PATH).
func WithBinary(path string) Option { return func(s *Server) { s.bin = path } }

// WithListen sets the web listen address (default 127.0.0.1:9090).
func WithListen(addr string) Option { return func(s *Server) { s.listen = addr } }

// WithScrape sets the targets and scrape interval; Self and RuleFiles are
// filled in by the Server.
func WithScrape(c ScrapeConfig) Option { return func(s *Server) { s.scrape = c } }

// WithRetention sets how long samples are kept (default 24h, as the seed).
func WithRetention(d time.Duration) Option { return func(s *Server) { s.retention = d } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// NewServer returns a Server that keeps its files under dir.
func NewServer(dir string, opts ...Option) *Server {
	s := &Server{dir: dir, bin: "prometheus", listen: DefaultListenAddr, scrape: LocalConfig(),
		retention: 24 * time.Hour, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// URL is the base URL of the Prometheus web API.
func (s *Server) URL() string { return "http://" + s.listen }

// ConfigPath is where the rendered prometheus.yml lives.
func (s *Server) ConfigPath() string { return filepath.Join(s.dir, "prometheus.yml") }

// LogPath is where Prometheus's own log goes.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "prometheus.log") }

// Start writes the configuration, starts Prometheus and waits until it
// answers /-/ready, or ctx ends, or it exits.
func (s *Server) Start(ctx context.Context) error {
	if s.cmd != nil {
		return errors.New("prometheus: already started")
	}
	if err := s.prepare(ctx); err != nil {
		return err
	}
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C reaches zdml, which stops Prometheus
	// in order; Pdeathsig stops it if zdml dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("prometheus: start %s: %w", s.bin, err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() {
		s.err = cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	s.log.Info("prometheus started", "pid", cmd.Process.Pid, "url", s.URL(), "dir", s.dir)
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop(context.WithoutCancel(ctx))
		return err
	}
	return nil
}

// prepare refuses a busy listen address (a second `make monitor`), and
// writes the rules and prometheus.yml.
func (s *Server) prepare(ctx context.Context) error {
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	if c, err := d.DialContext(ctx, "tcp", s.listen); err == nil {
		c.Close()
		return fmt.Errorf("prometheus: %s is already in use (is another `make monitor` running?)", s.listen)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	rulesDir := filepath.Join(s.dir, "rules")
	if _, err := WriteRules(rulesDir); err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	c := s.scrape
	c.Self, c.RuleFiles = s.listen, []string{filepath.Join(rulesDir, "*.yml")}
	var buf bytes.Buffer
	if err := c.Render(&buf); err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	return atomicfile.WriteFile(s.ConfigPath(), buf.Bytes(), 0o644)
}

func (s *Server) args() []string {
	return []string{
		"--config.file=" + s.ConfigPath(),
		"--storage.tsdb.path=" + filepath.Join(s.dir, "data"),
		"--storage.tsdb.retention.time=" + promDuration(s.retention.Round(time.Second)),
		"--web.listen-address=" + s.listen,
		"--log.format=json",
	}
}

// waitReady polls /-/ready until it answers 200.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("prometheus exited before ready (%v); see %s:\n%s", s.err, s.LogPath(), s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("prometheus not ready at %s: %w; see %s", s.URL(), ctx.Err(), s.LogPath())
		case <-tick.C:
		}
	}
}

// Done is closed when the Prometheus process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop sends SIGTERM, so Prometheus flushes its head block, and waits for
// the exit; when ctx ends first it kills the process.
func (s *Server) Stop(ctx context.Context) error {
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.done:
		return s.exitErr()
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		s.log.Info("prometheus stopped")
		return s.exitErr()
	case <-ctx.Done():
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("prometheus: killed after %w", ctx.Err())
	}
}

// exitErr treats an exit on our SIGTERM as clean.
func (s *Server) exitErr() error {
	var ee *exec.ExitError
	if s.err == nil || (errors.As(s.err, &ee) && ee.ExitCode() == 0) {
		return nil
	}
	return fmt.Errorf("prometheus: %w; see %s", s.err, s.LogPath())
}

// logTail returns the end of Prometheus's log, for error messages.
func (s *Server) logTail() string {
	data, err := os.ReadFile(s.LogPath())
	if err != nil {
		return ""
	}
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

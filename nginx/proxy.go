package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
)

// Outcome says what Ensure did.
type Outcome string

const (
	Unchanged Outcome = "unchanged" // nginx already served this config: nothing done
	Started   Outcome = "started"   // nginx was not running and now serves the config
	Reloaded  Outcome = "reloaded"  // nginx reloaded into the config, verified
)

// nextFile is where a new config is written and tested before it replaces
// the live one, so a config that fails `nginx -t` never touches nginx.conf.
const nextFile = "nginx.conf.next"

// prevFile keeps the config that was live before the last change, for humans
// and for restoring it when a reload does not take.
const prevFile = "nginx.conf.prev"

// Proxy keeps a real nginx serving a Config through a Runner. It observes
// before it acts: Ensure does nothing when the running nginx already reports
// the config's hash; otherwise it writes, tests, starts or reloads, and
// verifies that the new workers serve the new hash. It is safe for
// concurrent use.
type Proxy struct {
	runner        Runner
	log           *slog.Logger
	client        *http.Client
	callTimeout   time.Duration
	verifyTimeout time.Duration

	mu     sync.Mutex
	header Header // addresses of the config last ensured or found on disk
}

// Option configures a Proxy.
type Option func(*Proxy)

// WithLogger sets the logger.
func WithLogger(log *slog.Logger) Option { return func(p *Proxy) { p.log = log } }

// WithCallTimeout bounds each single nginx call (test, start, reload, stop
// signal, admin request); default 10 s.
func WithCallTimeout(d time.Duration) Option { return func(p *Proxy) { p.callTimeout = d } }

// WithVerifyTimeout bounds how long Ensure waits for nginx to report a new
// config hash, and VerifyRoute for the public route; default 10 s.
func WithVerifyTimeout(d time.Duration) Option { return func(p *Proxy) { p.verifyTimeout = d } }

// NewProxy returns a Proxy driving r.
func NewProxy(r Runner, opts ...Option) *Proxy {
	p := &Proxy{
		runner:        r,
		log:           slog.New(slog.DiscardHandler),
		callTimeout:   10 * time.Second,
		verifyTimeout: 10 * time.Second,
		client: &http.Client{
			// A fresh connection per request: it reaches whichever worker
			// accepts now, never an old worker through a cached connection.
			Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Runner returns the runner the proxy drives.
func (p *Proxy) Runner() Runner { return p.runner }

// Ensure makes the running nginx serve cfg and returns what it did. A config
// that fails `nginx -t` leaves the old file and the running nginx untouched
// and returns nginx's message; a reload that does not take effect within
// the verify timeout restores the previous config.
func (p *Proxy) Ensure(ctx context.Context, cfg Config) (Outcome, error) {
	cfg = cfg.WithDefaults()
	text, hash, err := Render(cfg)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.status(ctx)
	if err != nil {
		return "", err
	}
	live := filepath.Join(p.runner.Dir(), ConfFile)
	if st.Running {
		if p.serves(ctx, cfg.AdminAddr, hash) {
			p.header = headerOf(cfg, hash)
			if old, _ := os.ReadFile(live); !bytes.Equal(old, text) {
				return Unchanged, atomicfile.WriteFile(live, text, 0o644) // a restart must serve it too
			}
			return Unchanged, nil
		}
	}
	prev, err := p.install(ctx, text)
	if err != nil {
		return "", err
	}
	outcome, err := p.apply(ctx, st.Running, cfg.AdminAddr, hash)
	if err != nil {
		p.restore(ctx, st.Running, prev)
		return "", err
	}
	p.header = headerOf(cfg, hash)
	p.log.Info("nginx config applied", "outcome", outcome, "hash", hash, "active", cfg.Active)
	return outcome, nil
}

// serves reports whether fresh admin connections, several in a row, all
// report hash: a single answer may come from an old worker just after
// someone else's reload.
func (p *Proxy) serves(ctx context.Context, admin, hash string) bool {
	for i := 0; i < confirmations; i++ {
		if got, err := p.adminGet(ctx, admin, "/zdml/config"); err != nil || got != hash {
			return false
		}
	}
	return true
}

func headerOf(cfg Config, hash string) Header {
	return Header{Hash: hash, Active: cfg.Active, Public: cfg.PublicAddr, Admin: cfg.AdminAddr}
}

// install tests text with nginx -t and makes it the live config, returning
// the previous live config (nil if there was none).
func (p *Proxy) install(ctx context.Context, text []byte) ([]byte, error) {
	dir := p.runner.Dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("nginx dir: %w", err)
	}
	next := filepath.Join(dir, nextFile)
	if err := atomicfile.WriteFile(next, text, 0o644); err != nil {
		return nil, err
	}
	err := p.call(ctx, func(ctx context.Context) error { return p.runner.Test(ctx, nextFile) })
	if err != nil {
		_ = os.Remove(next)
		return nil, fmt.Errorf("new config rejected, the running config is unchanged: %w", err)
	}
	live := filepath.Join(dir, ConfFile)
	prev, err := os.ReadFile(live)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read live config: %w", err)
	}
	if prev != nil {
		if err := atomicfile.WriteFile(filepath.Join(dir, prevFile), prev, 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(next, live); err != nil {
		return nil, fmt.Errorf("install config: %w", err)
	}
	return prev, nil
}

// apply starts or reloads nginx and waits until the admin listener reports
// hash and no worker of the earlier config accepts connections any more.
func (p *Proxy) apply(ctx context.Context, running bool, admin, hash string) (Outcome, error) {
	logOffset := p.errorLogSize()
	if !running {
		if err := p.call(ctx, p.runner.Start); err != nil {
			return "", err
		}
		return Started, p.awaitHash(ctx, admin, hash, logOffset)
	}
	var before []Worker
	err := p.call(ctx, func(ctx context.Context) (err error) {
		before, err = p.runner.Workers(ctx)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("nginx workers: %w", err)
	}
	if err := p.call(ctx, p.runner.Reload); err != nil {
		return "", err
	}
	if err := p.awaitHash(ctx, admin, hash, logOffset); err != nil {
		return "", err
	}
	return Reloaded, p.awaitRetiring(ctx, current(before))
}

// call runs one runner call under its own timeout; a call that ran out of
// it wraps ErrTimeout.
func (p *Proxy) call(ctx context.Context, f func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, p.callTimeout)
	defer cancel()
	err := f(cctx)
	if err != nil && cctx.Err() != nil && ctx.Err() == nil && !errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w (after %s): %w", ErrTimeout, p.callTimeout, err)
	}
	return err
}

// restore puts the previous config back after a failed apply, and reloads
// when nginx runs, so that the file on disk is what nginx serves.
func (p *Proxy) restore(ctx context.Context, wasRunning bool, prev []byte) {
	live := filepath.Join(p.runner.Dir(), ConfFile)
	if prev == nil {
		_ = os.Remove(live)
		return
	}
	if err := atomicfile.WriteFile(live, prev, 0o644); err != nil {
		p.log.Error("restore previous nginx config", "err", err)
		return
	}
	if wasRunning {
		if err := p.call(ctx, p.runner.Reload); err != nil {
			p.log.Error("reload previous nginx config", "err", err)
		}
	}
	p.log.Warn("previous nginx config restored")
}

// Stop stops nginx gracefully within ctx (see Runner.Stop).
func (p *Proxy) Stop(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runner.Stop(ctx)
}

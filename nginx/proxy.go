package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
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
				return Unchanged, writeAtomic(live, text) // a restart must serve it too
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
	if err := writeAtomic(next, text); err != nil {
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
		if err := writeAtomic(filepath.Join(dir, prevFile), prev); err != nil {
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

// call runs one runner call under its own timeout.
func (p *Proxy) call(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.callTimeout)
	defer cancel()
	return f(ctx)
}

// awaitRetiring waits until none of the old workers accepts connections. A
// reloaded master starts new workers and only then tells the old ones to
// quit; under load an old worker can take 100 ms or more to notice, and
// until then it still accepts, and proxies to the old color. Measured here:
// old-config answers on the admin listener up to ~300 ms after the new hash
// was first seen.
func (p *Proxy) awaitRetiring(ctx context.Context, old []int) error {
	ctx, cancel := context.WithTimeout(ctx, p.verifyTimeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ws, err := p.runner.Workers(ctx)
		if err != nil {
			return fmt.Errorf("nginx workers: %w", err)
		}
		still := slices.DeleteFunc(current(ws), func(pid int) bool { return !slices.Contains(old, pid) })
		if len(still) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("old nginx workers %v still accept connections after %s", still, p.verifyTimeout)
		case <-tick.C:
		}
	}
}

// WaitRetired returns once no worker of an earlier config is left: every
// request that nginx accepted before the last reload has completed, so
// nothing more can reach the previous color through nginx. The reconciler's
// drain waits for this as well as for the old color's in-flight count. It
// is bounded by ctx and by the config's WorkerShutdownTimeout, after which
// nginx closes what is left.
func (p *Proxy) WaitRetired(ctx context.Context) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		ws, err := p.runner.Workers(ctx)
		if err != nil {
			return fmt.Errorf("nginx workers: %w", err)
		}
		if len(current(ws)) == len(ws) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("retiring nginx workers: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// restore puts the previous config back after a failed apply, and reloads
// when nginx runs, so that the file on disk is what nginx serves.
func (p *Proxy) restore(ctx context.Context, wasRunning bool, prev []byte) {
	live := filepath.Join(p.runner.Dir(), ConfFile)
	if prev == nil {
		_ = os.Remove(live)
		return
	}
	if err := writeAtomic(live, prev); err != nil {
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

// confirmations is how many fresh admin connections in a row must report
// the new hash: just after a reload an old worker may still accept one.
const confirmations = 3

// awaitHash polls the admin listener until it reports hash, failing early
// with nginx's message when the error log shows the reload was rejected.
func (p *Proxy) awaitHash(ctx context.Context, admin, hash string, logOffset int64) error {
	ctx, cancel := context.WithTimeout(ctx, p.verifyTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var got string
	var err error
	for ok := 0; ok < confirmations; {
		got, err = p.adminGet(ctx, admin, "/zdml/config")
		if err == nil && got == hash {
			ok++
			continue
		}
		ok = 0
		if msg := p.errorLogSince(logOffset); msg != "" {
			return fmt.Errorf("nginx rejected config %s: %s", hash, msg)
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("admin reports config %q", got)
			}
			return fmt.Errorf("nginx did not serve config %s within %s: %w", hash, p.verifyTimeout, err)
		case <-tick.C:
		}
	}
	return nil
}

// adminGet fetches a small text body from the admin listener.
func (p *Proxy) adminGet(ctx context.Context, admin, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, min(p.callTimeout, 2*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("nginx admin: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", fmt.Errorf("nginx admin: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("nginx admin %s: %s", path, resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

func (p *Proxy) status(ctx context.Context) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, p.callTimeout)
	defer cancel()
	st, err := p.runner.Status(ctx)
	if err != nil {
		return st, fmt.Errorf("nginx status: %w", err)
	}
	return st, nil
}

func (p *Proxy) errorLog() string { return filepath.Join(p.runner.Dir(), "logs", "error.log") }

func (p *Proxy) errorLogSize() int64 {
	fi, err := os.Stat(p.errorLog())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// errorLogSince returns the [emerg] lines nginx logged after offset: how a
// master reports a reload it refused.
func (p *Proxy) errorLogSince(offset int64) string {
	f, err := os.Open(p.errorLog())
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, offset, 1<<20))
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	var msgs []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "[emerg]") {
			msgs = append(msgs, line)
		}
	}
	return strings.Join(msgs, "; ")
}

// Observed is what a running nginx reports about itself.
type Observed struct {
	Status
	Hash   string     // config hash the admin listener reports; "" when not running
	Active spec.Color // color the public listener proxies to
	Public string     // public listener address
	Admin  string     // admin listener address
}

// Observe reports the running nginx's config hash and active color, asking
// its admin listener. The admin address is the one last ensured, or read
// from the header of the live config on disk (so a new Proxy can adopt an
// nginx started by an earlier zdml).
func (p *Proxy) Observe(ctx context.Context) (Observed, error) {
	st, err := p.status(ctx)
	if err != nil || !st.Running {
		return Observed{Status: st}, err
	}
	h, err := p.addrs()
	if err != nil {
		return Observed{Status: st}, err
	}
	obs := Observed{Status: st, Public: h.Public, Admin: h.Admin}
	if obs.Hash, err = p.adminGet(ctx, h.Admin, "/zdml/config"); err != nil {
		return obs, err
	}
	active, err := p.adminGet(ctx, h.Admin, "/zdml/active")
	if err != nil {
		return obs, err
	}
	if obs.Active, err = spec.ParseColor(active); err != nil {
		return obs, fmt.Errorf("nginx admin active: %w", err)
	}
	return obs, nil
}

// addrs returns the listener addresses of the config last ensured, or of
// the live config file.
func (p *Proxy) addrs() (Header, error) {
	p.mu.Lock()
	h := p.header
	p.mu.Unlock()
	if h.Admin != "" {
		return h, nil
	}
	b, err := os.ReadFile(filepath.Join(p.runner.Dir(), ConfFile))
	if err != nil {
		return h, fmt.Errorf("nginx config: %w", err)
	}
	return ParseHeader(b)
}

// Active returns the color the running nginx sends public traffic to, as
// its admin listener reports it. It returns ErrNotRunning when nginx is not
// running.
func (p *Proxy) Active(ctx context.Context) (spec.Color, error) {
	obs, err := p.Observe(ctx)
	if err != nil {
		return "", err
	}
	if !obs.Running {
		return "", ErrNotRunning
	}
	return obs.Active, nil
}

// VerifyRoute checks end to end that public traffic reaches the want color:
// requests to /healthz through the public listener must come back with
// X-Model-Color: want (three in a row, within the verify timeout).
func (p *Proxy) VerifyRoute(ctx context.Context, want spec.Color) error {
	h, err := p.addrs()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.verifyTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last error
	for ok := 0; ok < confirmations; {
		got, err := p.routeColor(ctx, h.Public)
		if err == nil && got == want {
			ok++
			continue
		}
		ok = 0
		switch {
		case err == nil:
			last = fmt.Errorf("public route reaches %q, want %q", got, want)
		case ctx.Err() == nil || last == nil: // keep why it failed, not that time ran out
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("verify route to %s: %w", want, last)
		case <-tick.C:
		}
	}
	return nil
}

func (p *Proxy) routeColor(ctx context.Context, public string) (spec.Color, error) {
	rctx, cancel := context.WithTimeout(ctx, min(p.callTimeout, 2*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+public+"/healthz", nil)
	if err != nil {
		return "", err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("public /healthz: %s", resp.Status)
	}
	return spec.Color(resp.Header.Get("X-Model-Color")), nil
}

// Stop stops nginx gracefully within ctx (see Runner.Stop).
func (p *Proxy) Stop(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runner.Stop(ctx)
}

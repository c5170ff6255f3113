package nginx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Observed is what a running nginx reports about itself.
type Observed struct {
	Status
	Hash   string     // config hash the admin listener reports; "" when not running
	Active spec.Color // color the public listener proxies to (the stable one during a canary)
	Public string     // public listener address
	Admin  string     // admin listener address
	// Canary is the traffic split the admin listener reports; nil when there
	// is none (or the config predates canaries).
	Canary *Canary
	// Maintenance is set while user routes answer 503; nil when off.
	Maintenance *Maintenance
}

// Observe reports the running nginx's config hash, active color, canary
// split and maintenance mode, asking its admin listener. The admin address is the one last ensured, or read
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
	if obs.Canary, err = adminOptional(ctx, p, h.Admin, "/zdml/canary", parseCanary); err != nil {
		return obs, err
	}
	obs.Maintenance, err = adminOptional(ctx, p, h.Admin, "/zdml/maintenance", parseMaintenance)
	return obs, err
}

// adminOptional reads an admin route that a config rendered by an earlier
// zdml lacks: its 404 means "none", so an upgraded reconciler adopts an
// nginx it started before.
func adminOptional[T any](ctx context.Context, p *Proxy, admin, path string, parse func(string) (*T, error)) (*T, error) {
	s, err := p.adminGet(ctx, admin, path)
	if errors.Is(err, errAdminNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parse(s)
}

// errAdminNotFound is an admin route the running config does not have.
var errAdminNotFound = errors.New("not found")

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
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if err != nil {
		return "", fmt.Errorf("nginx admin: %w", err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return "", fmt.Errorf("nginx admin %s: %w", path, errAdminNotFound)
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

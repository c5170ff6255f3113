package nginx

import (
	"context"
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

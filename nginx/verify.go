package nginx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/modelserver/modelclient"
	"github.com/zero-downtime-ml/zdml/spec"
)

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
			return fmt.Errorf("nginx did not serve config %s within %s: %w: %w", hash, p.verifyTimeout, ErrTimeout, err)
		case <-tick.C:
		}
	}
	return nil
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
			return fmt.Errorf("old nginx workers %v still accept connections after %s: %w", still, p.verifyTimeout, ErrTimeout)
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

// VerifyRoute checks end to end that public traffic reaches color want
// serving version: /healthz through the public listener must answer with
// X-Model-Color: want and X-Model-Version: version, three fresh
// connections in a row, within the verify timeout. Swap, verify, rollback
// and self-heal all check the route with it.
func (p *Proxy) VerifyRoute(ctx context.Context, want spec.Color, version string) error {
	return p.verifyRoute(ctx, "", want, version)
}

// VerifyCanary checks the same for traffic pinned to the canary (X-Canary:
// always). Unpinned health requests reach the stable color, which
// VerifyRoute checks.
func (p *Proxy) VerifyCanary(ctx context.Context, want spec.Color, version string) error {
	return p.verifyRoute(ctx, PinAlways, want, version)
}

// verifyRoute is the one route check: pin, when set, is sent as X-Canary.
func (p *Proxy) verifyRoute(ctx context.Context, pin string, want spec.Color, version string) error {
	h, err := p.addrs()
	if err != nil {
		return err
	}
	what := fmt.Sprintf("verify route to %s %s", want, version)
	if pin != "" {
		what += " (" + HeaderCanary + ": " + pin + ")"
	}
	return p.confirm(ctx, what, func(ctx context.Context) error {
		got, err := p.route(ctx, h.Public, pin)
		if err == nil && (got.Color != want || got.Version != version) {
			err = fmt.Errorf("public route reaches %s %s, want %s %s", got.Color, got.Version, want, version)
		}
		return err
	})
}

// Route asks the public listener once, over a fresh connection, which
// color and version answer /healthz (`zdml health`).
func (p *Proxy) Route(ctx context.Context) (modelclient.Served, error) {
	h, err := p.addrs()
	if err != nil {
		return modelclient.Served{}, err
	}
	return p.route(ctx, h.Public, "")
}

// route asks /healthz once; pin, when set, is sent as X-Canary.
func (p *Proxy) route(ctx context.Context, public, pin string) (modelclient.Served, error) {
	var header http.Header
	if pin != "" {
		header = http.Header{HeaderCanary: {pin}}
	}
	resp, err := p.publicGet(ctx, public, "/healthz", header)
	if err != nil {
		return modelclient.Served{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return modelclient.Served{}, fmt.Errorf("public /healthz: %s", resp.Status)
	}
	return modelclient.ServedBy(resp.Header), nil
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

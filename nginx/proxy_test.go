package nginx

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/zero-downtime-ml/zdml/spec"
)

func TestEnsureStartSwapVerify(t *testing.T) {
	ctx := context.Background()
	p, _, cfg := newTestProxy(t, backend(t, spec.Blue, nil), backend(t, spec.Green, nil))
	got, err := p.Ensure(ctx, cfg)
	if err != nil || got != Started {
		t.Fatalf("Ensure = %v, %v; want started", got, err)
	}
	if err := p.VerifyRoute(ctx, spec.Blue); err != nil {
		t.Fatal(err)
	}
	cfg.Active = spec.Green
	if got, err := p.Ensure(ctx, cfg); err != nil || got != Reloaded {
		t.Fatalf("Ensure = %v, %v; want reloaded", got, err)
	}
	if err := p.VerifyRoute(ctx, spec.Green); err != nil {
		t.Fatal(err)
	}
	if c, err := p.Active(ctx); err != nil || c != spec.Green {
		t.Fatalf("Active = %v, %v; want green", c, err)
	}
	resp, err := http.Get("http://" + cfg.PublicAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("%s %s %v", resp.Status, b, resp.Header)
}

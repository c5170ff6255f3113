package nginx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestEnsureStartSwapVerify(t *testing.T) {
	ctx := context.Background()
	p, _, cfg := newTestProxy(t, backend(t, spec.Blue, nil), backend(t, spec.Green, nil))
	if got, err := p.Ensure(ctx, cfg); err != nil || got != Started {
		t.Fatalf("Ensure = %v, %v; want started", got, err)
	}
	if err := p.VerifyRoute(ctx, spec.Blue, "v-blue"); err != nil {
		t.Fatal(err)
	}
	_, blueHash, _ := Render(cfg)
	resp, _ := get(t, "http://"+cfg.PublicAddr+"/healthz")
	if got := resp.Header.Get("X-Zdml-Config"); got != blueHash {
		t.Errorf("X-Zdml-Config = %q, want %q", got, blueHash)
	}
	if got := resp.Header.Get("X-Model-Version"); got != "v-blue" {
		t.Errorf("X-Model-Version = %q, want the upstream's v-blue", got)
	}

	cfg.Active = spec.Green
	if got, err := p.Ensure(ctx, cfg); err != nil || got != Reloaded {
		t.Fatalf("Ensure = %v, %v; want reloaded", got, err)
	}
	if err := p.VerifyRoute(ctx, spec.Green, "v-green"); err != nil {
		t.Fatal(err)
	}
	if c, err := p.Active(ctx); err != nil || c != spec.Green {
		t.Fatalf("Active = %v, %v; want green", c, err)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := p.VerifyRoute(short, spec.Blue, "v-blue"); err == nil || !strings.Contains(err.Error(), "reaches green v-green, want blue v-blue") {
		t.Errorf("VerifyRoute(blue) while green is active = %v", err)
	}
	// The version counts too: the right color serving another version is
	// not the route a deploy asked for.
	short2, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	if err := p.VerifyRoute(short2, spec.Green, "v-other"); err == nil || !strings.Contains(err.Error(), "reaches green v-green, want green v-other") {
		t.Errorf("VerifyRoute(green, v-other) while green serves v-green = %v", err)
	}
	if got, err := p.Route(ctx); err != nil || got.Color != spec.Green || got.Version != "v-green" {
		t.Errorf("Route = %+v, %v; want green v-green", got, err)
	}
}

func TestEnsureIdempotent(t *testing.T) {
	ctx := context.Background()
	p, local, cfg := startedProxy(t, backend(t, spec.Blue, nil), nil)
	st1, _ := local.Status(ctx)
	w1 := currentWorkers(t, local)
	if len(w1) != cfg.Workers {
		t.Fatalf("workers %v, want %d", w1, cfg.Workers)
	}
	for i := 0; i < 3; i++ {
		if got, err := p.Ensure(ctx, cfg); err != nil || got != Unchanged {
			t.Fatalf("Ensure #%d = %v, %v; want unchanged", i+2, got, err)
		}
	}
	st2, _ := local.Status(ctx)
	w2 := currentWorkers(t, local)
	if st1.PID != st2.PID || !slices.Equal(w1, w2) {
		t.Errorf("master/workers changed without a config change: %d %v -> %d %v", st1.PID, w1, st2.PID, w2)
	}
	// A real change does replace the workers.
	cfg.MaxBodySize = 2 << 20
	if got, err := p.Ensure(ctx, cfg); err != nil || got != Reloaded {
		t.Fatalf("Ensure = %v, %v; want reloaded", got, err)
	}
	// Ensure returns only once no old worker accepts connections.
	if w3 := currentWorkers(t, local); slices.ContainsFunc(w3, func(w int) bool { return slices.Contains(w1, w) }) {
		t.Errorf("old workers still accept connections after Ensure: %v -> %v", w1, w3)
	}
}

// TestEnsureRejectedKeepsServing: a config that nginx -t refuses (an
// upstream host that does not resolve, as a mistyped container name would)
// leaves the old config on disk and in nginx, and the error says why.
func TestEnsureRejectedKeepsServing(t *testing.T) {
	ctx := context.Background()
	p, local, cfg := startedProxy(t, backend(t, spec.Blue, nil), nil)
	live := filepath.Join(local.Dir(), ConfFile)
	before, _ := os.ReadFile(live)
	w1 := currentWorkers(t, local)

	bad := cfg
	bad.Upstreams = map[spec.Color]string{spec.Blue: cfg.Upstreams[spec.Blue], spec.Green: "no-such-host.invalid:8000"}
	bad.Active = spec.Green
	_, err := p.Ensure(ctx, bad)
	if err == nil {
		t.Fatal("Ensure accepted a config nginx -t rejects")
	}
	for _, want := range []string{"the running config is unchanged", "host not found in upstream", "no-such-host.invalid:8000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	after, _ := os.ReadFile(live)
	if !bytes.Equal(before, after) {
		t.Error("the live config file changed")
	}
	if _, err := os.Stat(filepath.Join(local.Dir(), nextFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rejected config left behind: %v", err)
	}
	if err := p.VerifyRoute(ctx, spec.Blue, "v-blue"); err != nil {
		t.Errorf("old config no longer serving: %v", err)
	}
	if w2 := currentWorkers(t, local); !slices.Equal(w1, w2) {
		t.Errorf("workers changed: %v -> %v", w1, w2)
	}
}

// TestEnsureFailedReloadRestores: a config that passes nginx -t but that the
// master cannot apply (its new public port is taken) is detected by the
// verification, reported with nginx's message, and rolled back on disk.
func TestEnsureFailedReloadRestores(t *testing.T) {
	ctx := context.Background()
	p, local, cfg := startedProxy(t, backend(t, spec.Blue, nil), nil)
	before, _ := os.ReadFile(filepath.Join(local.Dir(), ConfFile))
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	moved := cfg
	moved.PublicAddr = taken.Addr().String()
	_, err = p.Ensure(ctx, moved)
	if err == nil || !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("Ensure error = %v, want nginx's bind failure", err)
	}
	after, _ := os.ReadFile(filepath.Join(local.Dir(), ConfFile))
	if !bytes.Equal(before, after) {
		t.Error("the failed config was left live on disk")
	}
	if err := p.VerifyRoute(ctx, spec.Blue, "v-blue"); err != nil {
		t.Errorf("old config no longer serving: %v", err)
	}
	if got, err := p.Ensure(ctx, cfg); err != nil || got != Unchanged {
		t.Errorf("Ensure(old) = %v, %v; want unchanged", got, err)
	}
}

func TestPublicRoutes(t *testing.T) {
	_, _, cfg := startedProxy(t, backend(t, spec.Blue, nil), nil)
	tests := []struct {
		path string
		want int
	}{
		{"/healthz", 200}, {"/ready", 200}, {"/chat", 200}, {"/chat/alice", 200},
		{"/v1/models", 200}, {"/v1/chat/completions", 200},
		{"/metrics", 404}, {"/health/deep", 404}, {"/", 404}, {"/readyz", 404}, {"/chatx", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, "http://"+cfg.PublicAddr+tt.path)
			if resp.StatusCode != tt.want {
				t.Fatalf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.want)
			}
			fromUpstream := resp.Header.Get("X-Model-Color") != ""
			if fromUpstream != (tt.want == 200) {
				t.Errorf("GET %s reached the model server = %v (body %q)", tt.path, fromUpstream, body)
			}
		})
	}
	// The admin listener serves what this nginx runs, not the model API.
	_, hash, _ := Render(cfg)
	if _, body := get(t, "http://"+cfg.AdminAddr+"/zdml/config"); body != hash {
		t.Errorf("admin /zdml/config = %q, want %q", body, hash)
	}
	if resp, body := get(t, "http://"+cfg.AdminAddr+"/nginx_status"); resp.StatusCode != 200 || !strings.Contains(body, "Active connections") {
		t.Errorf("admin /nginx_status = %d %q", resp.StatusCode, body)
	}
}

func TestOversizedBody(t *testing.T) {
	ctx := context.Background()
	p, _, cfg := newTestProxy(t, backend(t, spec.Blue, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}), nil)
	cfg.MaxBodySize = 64 << 10
	if _, err := p.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	post := func(n int) int {
		resp, err := http.Post("http://"+cfg.PublicAddr+"/chat", "application/json", bytes.NewReader(make([]byte, n)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(32 << 10); got != 200 {
		t.Errorf("32 KiB body: %d, want 200", got)
	}
	if got := post(128 << 10); got != http.StatusRequestEntityTooLarge {
		t.Errorf("128 KiB body: %d, want 413", got)
	}
}

package monitoring

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// TestServerRestart: Prometheus stops cleanly on SIGTERM (exit 0, TSDB lock
// released), so a second start on the same directory works and keeps the
// data, as `make monitor` run twice does.
func TestServerRestart(t *testing.T) {
	dir := t.TempDir()
	bin := testenv.LookPath(t, "prometheus", "prometheus")
	c := LocalConfig()
	c.ScrapeInterval = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 2 {
		srv := NewServer(dir, WithBinary(bin), WithListen(testenv.FreeAddr(t)), WithScrape(c))
		if err := srv.Start(ctx); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		client, err := NewClient(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		waitQuery(t, client, `up{role="prometheus"} == 1`, 20*time.Second)
		if err := srv.Stop(ctx); err != nil {
			t.Fatalf("stop %d: %v", i+1, err)
		}
		select {
		case <-srv.Done():
		default:
			t.Fatal("Stop returned before the process exited")
		}
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), filepath.Join(dir, "rules", "*.yml")) {
		t.Errorf("rendered config does not load the written rules:\n%s", cfg)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "lock")); err == nil {
		t.Error("data/lock left behind: Prometheus did not shut down cleanly")
	}
}

func TestServerStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bin := testenv.LookPath(t, "prometheus", "prometheus")
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"listen address in use", []Option{WithBinary(bin), WithListen(busy.Addr().String())}, "already in use"},
		{"no such binary", []Option{WithBinary("/nonexistent/prometheus"), WithListen(testenv.FreeAddr(t))}, "start /nonexistent/prometheus"},
		{"bad scrape config", []Option{WithBinary(bin), WithListen(testenv.FreeAddr(t)), WithScrape(ScrapeConfig{Blue: "nohost"})}, "blue address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewServer(t.TempDir(), tc.opts...)
			err := srv.Start(context.Background())
			if err == nil {
				srv.Stop(context.Background())
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

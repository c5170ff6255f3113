package modelserver

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestReadMemory(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    Memory
		wantErr bool
	}{
		{"rollup", "00400000-7ffe [rollup]\nRss:   2048 kB\nPss:   1024 kB\nPss_Anon: 10 kB\nShared_Clean: 1024 kB\n", Memory{RSS: 2 << 20, PSS: 1 << 20}, false},
		{"no pss", "Rss: 10 kB\n", Memory{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readMemory(p)
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Errorf("got %+v %v, want %+v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
	// And this very process, for real.
	m, err := ReadMemory()
	if err != nil || m.RSS <= 0 || m.PSS <= 0 || m.PSS > m.RSS {
		t.Errorf("ReadMemory: %+v %v", m, err)
	}
}

// A reading is reused for 200 times what it cost, at least a second and at
// most 30: reading PSS of the 1 GB model takes ~45 ms of kernel time, and
// probes polled at any rate must stay under 1 % of a core.
func TestMemoryCacheTTLFollowsCost(t *testing.T) {
	tests := []struct {
		name string
		cost time.Duration
		ttl  time.Duration
	}{
		{"cheap: fresh every second", time.Millisecond, time.Second},
		{"the 1 GB model's 45 ms", 45 * time.Millisecond, 9 * time.Second},
		{"capped", time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reads := 0
				c := newMemoryCache(func() (Memory, error) {
					reads++
					time.Sleep(tt.cost)
					return Memory{RSS: int64(reads), PSS: int64(reads)}, nil
				})
				first, at, _ := c.get()
				time.Sleep(tt.ttl - time.Nanosecond)
				if got, gotAt, _ := c.get(); got != first || !gotAt.Equal(at) || reads != 1 {
					t.Fatalf("just before the ttl: %+v read %d times, want the first reading", got, reads)
				}
				time.Sleep(time.Nanosecond)
				if got, _, _ := c.get(); got.PSS != 2 {
					t.Errorf("at the ttl: %+v, want a new reading", got)
				}
			})
		})
	}
}

// The probes share one reading: the resync loop's /health/deep, a
// Prometheus scrape and a ready gate's /ready together read smaps_rollup
// once (before, each call read it once or twice: ~90 ms of CPU per
// /health/deep on the 1 GB model).
func TestProbesShareOneMemoryReading(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Model, cfg.DB, cfg.MemoryLimit = filepath.Join(dir, "missing.gguf"), filepath.Join(dir, "chat.db"), 1<<30
	s, err := NewServer(t.Context(), cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.history.Close()
	reads := 0
	s.memory = newMemoryCache(func() (Memory, error) { reads++; return Memory{RSS: 2 << 20, PSS: 1 << 20}, nil })
	h := s.Handler()
	for range 20 {
		for _, path := range []string{"/ready", "/health/deep", "/metrics"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if path == "/health/deep" && !strings.Contains(rec.Body.String(), `"pss_bytes":1048576`) {
				t.Fatalf("/health/deep: %s", rec.Body)
			}
		}
	}
	if reads != 1 {
		t.Errorf("60 probes read memory %d times, want 1", reads)
	}
}

func TestReadRSS(t *testing.T) {
	p := filepath.Join(t.TempDir(), "statm")
	if err := os.WriteFile(p, []byte("1000 300 20 5 0 100 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readRSS(p); err != nil || got != 300*int64(os.Getpagesize()) {
		t.Errorf("readRSS: %d %v", got, err)
	}
	rss, err := ReadRSS()
	m, _ := ReadMemory()
	if err != nil || rss <= 0 || rss < m.PSS/2 {
		t.Errorf("ReadRSS: %d %v (smaps_rollup: %+v)", rss, err, m)
	}
}

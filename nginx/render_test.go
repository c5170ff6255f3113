package nginx

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "defaults", cfg: Config{
			Upstreams: map[spec.Color]string{spec.Blue: "127.0.0.1:8000", spec.Green: "127.0.0.1:8001"},
			Active:    spec.Blue,
		}},
		{name: "green-tuned", cfg: Config{
			PublicAddr: "0.0.0.0:80", AdminAddr: "[::1]:9081",
			Upstreams:             map[spec.Color]string{spec.Green: "modelserver-green:8000"},
			Active:                spec.Green,
			Workers:               4,
			WorkerShutdownTimeout: 90 * time.Second,
			MaxBodySize:           8 << 20,
			ProxyReadTimeout:      1500 * time.Millisecond,
			PublicKeepalive:       65 * time.Second,
			AccessLog:             true,
		}},
		{name: "canary", cfg: Config{
			Upstreams: map[spec.Color]string{spec.Blue: "127.0.0.1:8000", spec.Green: "127.0.0.1:8001"},
			Active:    spec.Blue,
			Canary:    &Canary{Color: spec.Green, Weight: 10},
		}},
		{name: "canary-maintenance", cfg: Config{
			Upstreams:   map[spec.Color]string{spec.Blue: "127.0.0.1:8000", spec.Green: "127.0.0.1:8001"},
			Active:      spec.Green,
			Canary:      &Canary{Color: spec.Blue, Weight: 100},
			Maintenance: &Maintenance{Message: `back at 14:00 UTC; "it's" $HOME {ok} \ done`, RetryAfter: 120 * time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, hash, err := Render(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".conf")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./nginx -run TestRenderGolden -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("Render differs from %s (-update to accept):\n%s", golden, got)
			}
			h, err := ParseHeader(got)
			if err != nil || h.Hash != hash || h.Active != tt.cfg.Active {
				t.Errorf("ParseHeader = %+v, %v; want hash %s, active %s", h, err, hash, tt.cfg.Active)
			}
			// first-line header, X-Zdml-Config, admin; and X-Zdml-Config again
			// in each of the 3 user locations in maintenance.
			wantHash := 3
			if tt.cfg.Maintenance != nil {
				wantHash += 3
			}
			if n := strings.Count(string(got), hash); n != wantHash {
				t.Errorf("hash appears %d times, want %d", n, wantHash)
			}
		})
	}
}

func TestRenderHash(t *testing.T) {
	base := Config{Upstreams: map[spec.Color]string{spec.Blue: "127.0.0.1:8000", spec.Green: "127.0.0.1:8001"}, Active: spec.Blue}
	_, h1, _ := Render(base)
	_, h2, _ := Render(base)
	if h1 != h2 || len(h1) != HashLen {
		t.Fatalf("hash not stable: %q %q", h1, h2)
	}
	explicit := base
	explicit.PublicAddr, explicit.Workers = DefaultPublicAddr, DefaultWorkers
	if _, h, _ := Render(explicit); h != h1 {
		t.Errorf("defaults written out change the hash: %s != %s", h, h1)
	}
	swapped := base
	swapped.Active = spec.Green
	if _, h, _ := Render(swapped); h == h1 {
		t.Error("swapping the active color does not change the hash")
	}
	seen := map[string]string{h1: "no canary"}
	for _, w := range []int{0, 10, 50, 100} {
		c := base
		c.Canary = &Canary{Color: spec.Green, Weight: w}
		_, h, _ := Render(c)
		if prev, ok := seen[h]; ok {
			t.Errorf("canary weight %d has the hash of %s", w, prev)
		}
		seen[h] = fmt.Sprintf("weight %d", w)
	}
	for _, m := range []Maintenance{{}, {Message: "x"}, {RetryAfter: time.Minute}} {
		c := base
		c.Maintenance = &m
		_, h, _ := Render(c)
		if prev, ok := seen[h]; ok {
			t.Errorf("maintenance %+v has the hash of %s", m, prev)
		}
		seen[h] = fmt.Sprintf("maintenance %+v", m)
	}
}

// TestRenderLeavesCallerAlone: defaults go into a copy, never into the
// caller's Maintenance.
func TestRenderLeavesCallerAlone(t *testing.T) {
	m := &Maintenance{}
	cfg := Config{Upstreams: map[spec.Color]string{spec.Blue: "127.0.0.1:8000"}, Active: spec.Blue, Maintenance: m}
	if _, _, err := Render(cfg); err != nil {
		t.Fatal(err)
	}
	if *m != (Maintenance{}) {
		t.Errorf("Render changed the caller's Maintenance to %+v", *m)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Upstreams: map[spec.Color]string{spec.Blue: "127.0.0.1:8000"}, Active: spec.Blue}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no active upstream", func(c *Config) { c.Active = spec.Green }, "no upstream address for the active color green"},
		{"bad color", func(c *Config) { c.Active = "red" }, `active color "red": want blue or green`},
		{"public admin", func(c *Config) { c.AdminAddr = "0.0.0.0:8081" }, `admin addr "0.0.0.0:8081": must be a loopback address`},
		{"same listener", func(c *Config) { c.AdminAddr = c.PublicAddr }, `public and admin addr are both "127.0.0.1:8080"`},
		{"injection", func(c *Config) { c.Upstreams[spec.Blue] = "127.0.0.1:80; }" }, `upstream blue "127.0.0.1:80; }": bad port`},
		{"injection in host", func(c *Config) { c.Upstreams[spec.Blue] = "a;b:80" }, `upstream blue "a;b:80": want host:port`},
		{"no port", func(c *Config) { c.PublicAddr = "127.0.0.1" }, "public addr \"127.0.0.1\": address 127.0.0.1: missing port in address"},
		{"negative keepalive", func(c *Config) { c.PublicKeepalive = -time.Second }, "public keepalive -1s: want 0 or whole milliseconds"},
		{"shutdown timeout below 1ms", func(c *Config) { c.WorkerShutdownTimeout = time.Microsecond }, "worker shutdown timeout 1µs: want whole milliseconds"},
		{"shutdown timeout negative", func(c *Config) { c.WorkerShutdownTimeout = -time.Second }, "worker shutdown timeout -1s: want whole milliseconds"},
		{"proxy read timeout fraction", func(c *Config) { c.ProxyReadTimeout = 1500 * time.Microsecond }, "proxy read timeout 1.5ms: want whole milliseconds"},
		{"canary is active", func(c *Config) { c.Canary = &Canary{Color: spec.Blue, Weight: 10} }, "canary color blue is the active (stable) color"},
		{"canary without upstream", func(c *Config) { c.Canary = &Canary{Color: spec.Green, Weight: 10} }, "no upstream address for the canary color green"},
		{"canary bad color", func(c *Config) { c.Canary = &Canary{Color: "red"} }, `canary color "red": want blue or green`},
		{"canary weight over 100", func(c *Config) {
			c.Upstreams[spec.Green] = "127.0.0.1:8001"
			c.Canary = &Canary{Color: spec.Green, Weight: 101}
		}, "canary weight 101: want 0..100 percent"},
		{"canary weight negative", func(c *Config) {
			c.Upstreams[spec.Green] = "127.0.0.1:8001"
			c.Canary = &Canary{Color: spec.Green, Weight: -1}
		}, "canary weight -1: want 0..100 percent"},
		{"maintenance message too long", func(c *Config) {
			c.Maintenance = &Maintenance{Message: strings.Repeat("é", 257), RetryAfter: time.Second}
		},
			"maintenance message: 514 bytes, want at most 512"},
		{"maintenance message not UTF-8", func(c *Config) { c.Maintenance = &Maintenance{Message: "a\xffb", RetryAfter: time.Second} },
			"maintenance message: not valid UTF-8"},
		{"maintenance retry-after fraction", func(c *Config) { c.Maintenance = &Maintenance{Message: "m", RetryAfter: 1500 * time.Millisecond} },
			"maintenance retry-after 1.5s: want whole seconds from 1s to 24h0m0s"},
		{"maintenance retry-after too long", func(c *Config) { c.Maintenance = &Maintenance{Message: "m", RetryAfter: 25 * time.Hour} },
			"maintenance retry-after 25h0m0s: want whole seconds"},
		{"negative body size", func(c *Config) { c.MaxBodySize = -1 }, "max body size -1: want a positive number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			c.Upstreams = map[spec.Color]string{spec.Blue: "127.0.0.1:8000"}
			c = c.WithDefaults()
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	if err := ok.WithDefaults().Validate(); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}

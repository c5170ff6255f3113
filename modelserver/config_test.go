package modelserver

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

func TestParseConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		check   func(Config) bool
		wantErr string
	}{
		{"defaults with a model", []string{"--model", "m.gguf"}, env(),
			func(c Config) bool {
				return c.Addr == "127.0.0.1:8000" && c.Color == spec.Blue && c.Parallel == 4 && c.FlashAttention && c.MaxBody == 1<<20
			}, ""},
		{"flags", []string{"--model", "m.gguf", "--color", "green", "--parallel", "2", "--max-body", "2Mi", "--memory-limit", "1Gi", "--shutdown-timeout", "90s", "--log-level", "debug", "--flash-attn=false"}, env(),
			func(c Config) bool {
				return c.Color == spec.Green && c.Parallel == 2 && c.MaxBody == 2<<20 && c.MemoryLimit == 1<<30 &&
					c.ShutdownTimeout == 90*time.Second && c.LogLevel == slog.LevelDebug && !c.FlashAttention
			}, ""},
		{"environment fallback", nil, env("ZDML_MODEL", "e.gguf", "ZDML_MODEL_VERSION", "v9", "ZDML_THREADS", "3", "ZDML_COLOR", "green"),
			func(c Config) bool {
				return c.Model == "e.gguf" && c.ModelVersion == "v9" && c.Threads == 3 && c.Color == spec.Green
			}, ""},
		{"flag beats environment", []string{"--model", "f.gguf", "--threads", "2"}, env("ZDML_MODEL", "e.gguf", "ZDML_THREADS", "7"),
			func(c Config) bool { return c.Model == "f.gguf" && c.Threads == 2 }, ""},
		{"missing model", nil, env(), nil, "--model is required"},
		{"bad color", []string{"--model", "m", "--color", "red"}, env(), nil, `color "red": want blue or green`},
		{"bad color in env", []string{"--model", "m"}, env("ZDML_COLOR", "purple"), nil, `ZDML_COLOR="purple"`},
		{"threads not a number", []string{"--model", "m", "--threads", "many"}, env(), nil, "invalid value"},
		{"threads in env not a number", []string{"--model", "m"}, env("ZDML_THREADS", "x"), nil, `ZDML_THREADS="x"`},
		{"zero parallel", []string{"--model", "m", "--parallel", "0"}, env(), nil, "--parallel 0: want at least 1"},
		{"negative queue", []string{"--model", "m", "--queue", "-1"}, env(), nil, "--queue -1"},
		{"bad max body", []string{"--model", "m", "--max-body", "lots"}, env(), nil, "memory size"},
		{"bad sha256", []string{"--model", "m", "--model-sha256", "abc"}, env(), nil, "64 hex digits"},
		{"bad addr", []string{"--model", "m", "--addr", "8000"}, env(), nil, "want host:port"},
		{"bad duration", []string{"--model", "m", "--shutdown-timeout", "soon"}, env(), nil, "invalid value"},
		{"zero duration", []string{"--model", "m", "--shutdown-timeout", "0s"}, env(), nil, "positive duration"},
		{"bad log level", []string{"--model", "m", "--log-level", "loud"}, env(), nil, "invalid value"},
		{"stray argument", []string{"--model", "m", "extra"}, env(), nil, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig(tt.args, tt.env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestParseConfigHelp(t *testing.T) {
	var out strings.Builder
	_, err := ParseConfig([]string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "-max-tokens-limit") {
		t.Errorf("got %v and usage %q", err, out.String())
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("model-version"); got != "ZDML_MODEL_VERSION" {
		t.Errorf("got %s", got)
	}
}

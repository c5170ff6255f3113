package modelserver

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Config is the model server's whole configuration. Every field comes from a
// flag with a ZDML_<FLAG> environment fallback (docs/architecture.md).
type Config struct {
	Model           string        // GGUF file
	Addr            string        // listen address
	Color           spec.Color    // blue or green, reported in headers
	ModelName       string        // defaults to the GGUF's general.name
	ModelVersion    string        // defaults to the GGUF's general.version
	ModelSHA256     string        // hex; computed in the background when empty
	Threads         int           // decode threads
	Parallel        int           // slots decoded together
	Ctx             int           // context window per slot, tokens
	Batch           int           // prompt tokens per decode step
	FlashAttention  bool          // fused attention kernel
	DB              string        // SQLite conversation history
	MaxBody         spec.Quantity // largest request body
	MaxTokensLimit  int           // largest max_tokens a request may ask
	MaxScoreTokens  int           // most tokens one /v1/logprobs request may score
	MemoryLimit     spec.Quantity // /ready fails above this PSS; 0 = none
	Queue           int           // requests that may wait for a slot
	ShutdownTimeout time.Duration // drain bound after SIGTERM
	LogLevel        slog.Level
}

// DefaultConfig is what ParseConfig starts from.
func DefaultConfig() Config {
	return Config{
		Addr:            "127.0.0.1:8000",
		Color:           spec.Blue,
		Threads:         defaultThreads(),
		Parallel:        4,
		Ctx:             2048,
		Batch:           512,
		FlashAttention:  true,
		DB:              "chat.db",
		MaxBody:         1 << 20,
		MaxTokensLimit:  512,
		MaxScoreTokens:  1024,
		Queue:           16,
		ShutdownTimeout: 60 * time.Second,
		LogLevel:        slog.LevelInfo,
	}
}

// defaultThreads is every CPU up to 8: past that llama.cpp's decode is
// memory-bound and more threads only add synchronisation.
func defaultThreads() int { return min(runtime.NumCPU(), 8) }

// ParseConfig reads flags from args, falling back to environment variables
// (looked up with getenv) for flags not given. A malformed value is an error
// naming the flag or variable; -h returns flag.ErrHelp after printing usage
// to out.
func ParseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("modelserver", flag.ContinueOnError)
	fs.SetOutput(out)
	bindFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := applyEnv(fs, getenv); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func bindFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Model, "model", c.Model, "GGUF model `file` (required)")
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen `address` host:port")
	fs.Var(colorFlag{&c.Color}, "color", "this server's color: blue or green")
	fs.StringVar(&c.ModelName, "model-name", c.ModelName, "model name (default: the GGUF's general.name)")
	fs.StringVar(&c.ModelVersion, "model-version", c.ModelVersion, "model version (default: the GGUF's general.version)")
	fs.StringVar(&c.ModelSHA256, "model-sha256", c.ModelSHA256, "model file sha256 in `hex` (default: computed in the background)")
	fs.IntVar(&c.Threads, "threads", c.Threads, "decode threads")
	fs.IntVar(&c.Parallel, "parallel", c.Parallel, "requests decoded together (slots)")
	fs.IntVar(&c.Ctx, "ctx", c.Ctx, "context window of each slot, in tokens")
	fs.IntVar(&c.Batch, "batch", c.Batch, "prompt tokens decoded per step")
	fs.BoolVar(&c.FlashAttention, "flash-attn", c.FlashAttention, "use flash attention")
	fs.StringVar(&c.DB, "db", c.DB, "SQLite conversation history `file`")
	fs.Var(quantityFlag{&c.MaxBody}, "max-body", "largest request body, e.g. 1Mi")
	fs.IntVar(&c.MaxTokensLimit, "max-tokens-limit", c.MaxTokensLimit, "largest max_tokens a request may ask for")
	fs.IntVar(&c.MaxScoreTokens, "max-score-tokens", c.MaxScoreTokens, "most tokens one /v1/logprobs request may score (also bounded by --ctx)")
	fs.Var(quantityFlag{&c.MemoryLimit}, "memory-limit", "not ready above this PSS, e.g. 2Gi (0: no limit)")
	fs.IntVar(&c.Queue, "queue", c.Queue, "requests that may wait for a slot before 503")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long in-flight requests may finish after SIGTERM")
	fs.Var(levelFlag{&c.LogLevel}, "log-level", "debug, info, warn or error")
}

// applyEnv sets every flag not given on the command line from ZDML_<FLAG>.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := EnvName(f.Name)
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// EnvName is the environment fallback of a flag: --model-version is
// ZDML_MODEL_VERSION.
func EnvName(flagName string) string {
	return "ZDML_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Model == "" {
		bad("--model is required (or ZDML_MODEL)")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("--addr %q: want host:port", c.Addr)
	}
	if c.ModelSHA256 != "" {
		if b, err := hex.DecodeString(c.ModelSHA256); err != nil || len(b) != 32 {
			bad("--model-sha256 %q: want 64 hex digits", c.ModelSHA256)
		}
	}
	for _, p := range []struct {
		name string
		v    int
		min  int
	}{{"threads", c.Threads, 1}, {"parallel", c.Parallel, 1}, {"ctx", c.Ctx, 64}, {"batch", c.Batch, 1},
		{"max-tokens-limit", c.MaxTokensLimit, 1}, {"max-score-tokens", c.MaxScoreTokens, 2}, {"queue", c.Queue, 0}} {
		if p.v < p.min {
			bad("--%s %d: want at least %d", p.name, p.v, p.min)
		}
	}
	if c.MaxBody < 64 {
		bad("--max-body %d: want at least 64 bytes", c.MaxBody)
	}
	if c.ShutdownTimeout <= 0 {
		bad("--shutdown-timeout %v: want a positive duration", c.ShutdownTimeout)
	}
	return errors.Join(errs...)
}

type colorFlag struct{ c *spec.Color }

func (f colorFlag) String() string {
	if f.c == nil {
		return ""
	}
	return f.c.String()
}

func (f colorFlag) Set(s string) error {
	c, err := spec.ParseColor(s)
	if err == nil {
		*f.c = c
	}
	return err
}

type quantityFlag struct{ q *spec.Quantity }

func (f quantityFlag) String() string {
	if f.q == nil {
		return ""
	}
	return f.q.String()
}

func (f quantityFlag) Set(s string) error {
	q, err := spec.ParseQuantity(s)
	if err == nil {
		*f.q = q
	}
	return err
}

type levelFlag struct{ l *slog.Level }

func (f levelFlag) String() string {
	if f.l == nil {
		return ""
	}
	return strings.ToLower(f.l.String())
}

func (f levelFlag) Set(s string) error { return f.l.UnmarshalText([]byte(s)) }

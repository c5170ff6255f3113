package monitoring

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"net"
	"text/template"
	"time"
)

// Default addresses of the process runtime (docs/architecture.md, "Default
// ports") and of the Docker compose stack ("Monitoring").
const (
	DefaultBlueAddr       = "127.0.0.1:8000"
	DefaultGreenAddr      = "127.0.0.1:8001"
	DefaultReconcilerAddr = "127.0.0.1:9400"
	DefaultListenAddr     = "127.0.0.1:9090"

	ComposeBlueAddr  = "zdml-blue:8000"
	ComposeGreenAddr = "zdml-green:8001"
	// In compose the reconciler and Prometheus share nginx's network
	// namespace, where the reconciler API listens on loopback.
	ComposeReconcilerAddr = "127.0.0.1:9400"
	ComposeListenAddr     = "localhost:9090"

	// DefaultScrapeInterval is short because a blue/green swap and its
	// drain last seconds: a 10 s scrape would miss most of a deploy.
	DefaultScrapeInterval = 5 * time.Second
)

// ScrapeConfig is what prometheus.yml says: where the two colors, the
// reconciler and Prometheus itself listen, how often to scrape, and which
// rule files to load.
type ScrapeConfig struct {
	Blue, Green, Reconciler, Self string
	ScrapeInterval                time.Duration
	RuleFiles                     []string // globs; relative ones are relative to the config file
	Stack                         string   // external label "stack": local or compose
}

// LocalConfig is the scrape config of the process runtime on loopback; it
// is what monitoring/prometheus.yml holds.
func LocalConfig() ScrapeConfig {
	return ScrapeConfig{Blue: DefaultBlueAddr, Green: DefaultGreenAddr, Reconciler: DefaultReconcilerAddr,
		Self: DefaultListenAddr, ScrapeInterval: DefaultScrapeInterval, RuleFiles: []string{"rules/*.yml"}, Stack: "local"}
}

// ComposeConfig is the scrape config inside the Docker compose stack, where
// the colors are reached by their container aliases on the zdml network; it
// is what monitoring/prometheus.compose.yml holds.
func ComposeConfig() ScrapeConfig {
	c := LocalConfig()
	c.Blue, c.Green, c.Reconciler, c.Self, c.Stack = ComposeBlueAddr, ComposeGreenAddr, ComposeReconcilerAddr, ComposeListenAddr, "compose"
	return c
}

//go:embed prometheus.yml.tmpl
var configTemplate string

var configTmpl = template.Must(template.New("prometheus.yml").Parse(configTemplate))

// Validate reports a config Prometheus would refuse or scrape wrongly.
func (c ScrapeConfig) Validate() error {
	for _, a := range []struct{ name, addr string }{{"blue", c.Blue}, {"green", c.Green}, {"reconciler", c.Reconciler}, {"self", c.Self}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s address %q: %w", a.name, a.addr, err)
		}
	}
	if c.ScrapeInterval < time.Second || c.ScrapeInterval%time.Second != 0 {
		return fmt.Errorf("scrape interval %s: want whole seconds, at least 1s", c.ScrapeInterval)
	}
	if c.Stack == "" {
		return fmt.Errorf("stack label is empty")
	}
	return nil
}

// Render writes prometheus.yml for c.
func (c ScrapeConfig) Render(w io.Writer) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("render prometheus.yml: %w", err)
	}
	var buf bytes.Buffer
	if err := configTmpl.Execute(&buf, c.templateData()); err != nil {
		return fmt.Errorf("render prometheus.yml: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func (c ScrapeConfig) templateData() map[string]any {
	// A scrape may not outlast its interval; 10 s is Prometheus's default cap.
	timeout := min(c.ScrapeInterval, 10*time.Second)
	return map[string]any{
		"C":        c,
		"Interval": promDuration(c.ScrapeInterval),
		"Timeout":  promDuration(timeout),
	}
}

// promDuration formats whole seconds the way Prometheus writes them (5s, 1m).
func promDuration(d time.Duration) string {
	s := int64(d / time.Second)
	if s%60 == 0 {
		return fmt.Sprintf("%dm", s/60)
	}
	return fmt.Sprintf("%ds", s)
}

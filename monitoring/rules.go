package monitoring

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
	"go.yaml.in/yaml/v3"
)

// rulesFS holds the alert and recording rules, so `zdml monitor` runs the
// same rules as the compose stack from any directory.
//
//go:embed rules/*.yml
var rulesFS embed.FS

// RuleFiles returns the names of the embedded rule files (alerts.yml,
// recording.yml), sorted.
func RuleFiles() []string {
	names, _ := fs.Glob(rulesFS, "rules/*.yml") // the pattern is valid
	for i, n := range names {
		names[i] = path.Base(n)
	}
	sort.Strings(names)
	return names
}

// WriteRules writes the embedded rule files into dir and returns their
// paths.
func WriteRules(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("write rules: %w", err)
	}
	var out []string
	for _, name := range RuleFiles() {
		data, err := rulesFS.ReadFile("rules/" + name)
		if err != nil {
			return nil, fmt.Errorf("write rules: %w", err)
		}
		p := filepath.Join(dir, name)
		if err := atomicfile.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Rule is one alerting or recording rule, as far as tooling needs it.
type Rule struct {
	Alert  string `yaml:"alert"`
	Record string `yaml:"record"`
	Expr   string `yaml:"expr"`
}

// Rules decodes every embedded rule, in file order.
func Rules() ([]Rule, error) {
	var out []Rule
	for _, name := range RuleFiles() {
		data, err := rulesFS.ReadFile("rules/" + name)
		if err != nil {
			return nil, err
		}
		var f struct {
			Groups []struct {
				Rules []Rule `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("rules %s: %w", name, err)
		}
		for _, g := range f.Groups {
			out = append(out, g.Rules...)
		}
	}
	return out, nil
}

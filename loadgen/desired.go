package loadgen

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/zero-downtime-ml/zdml/spec"
	"go.yaml.in/yaml/v3"
)

// DesiredChange is an edit of desired.yaml: the model to serve and how to
// roll it out. Empty fields are left as they are.
type DesiredChange struct {
	Model    spec.Model
	Strategy string
	// Canary sets strategy.steps, analysis and sticky; any other strategy
	// drops them (they apply only to canary).
	Canary *CanaryPlan
	// Quality sets spec.quality (the output-quality gate); nil leaves it.
	Quality *spec.Quality
	Runtime string
}

// EditDesired applies c to a desired.yaml file's text, keeping its comments
// and layout, and validates the result with the spec package. A model
// change without a sha256 drops the old one, which belongs to another file.
func EditDesired(filename string, data []byte, c DesiredChange) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("edit %s: %w", filename, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("edit %s: not a desired.yaml mapping", filename)
	}
	root := doc.Content[0]
	specNode := child(root, "spec")
	if c.Model.Version != "" {
		model := child(specNode, "model")
		setScalar(model, "name", c.Model.Name)
		setScalar(model, "version", c.Model.Version)
		setScalar(model, "path", c.Model.Path)
		if c.Model.SHA256 != "" {
			setScalar(model, "sha256", c.Model.SHA256)
		} else {
			removeKey(model, "sha256")
		}
	}
	if c.Strategy != "" {
		strategy := child(specNode, "strategy")
		setScalar(strategy, "type", c.Strategy)
		if err := setCanary(strategy, c.Strategy, c.Canary); err != nil {
			return nil, fmt.Errorf("edit %s: %w", filename, err)
		}
	}
	if c.Runtime != "" {
		setScalar(specNode, "runtime", c.Runtime)
	}
	if c.Quality != nil {
		if err := setNode(specNode, "quality", c.Quality); err != nil {
			return nil, fmt.Errorf("edit %s: %w", filename, err)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("edit %s: %w", filename, err)
	}
	if _, err := spec.Parse(filename, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("edit %s: the edited file is invalid:\n%w", filename, err)
	}
	return buf.Bytes(), nil
}

// child returns the mapping under key, creating it when absent.
func child(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	return v
}

func setScalar(m *yaml.Node, key, value string) {
	if value == "" {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			v.Kind, v.Tag, v.Value, v.Style = yaml.ScalarNode, "!!str", value, 0
			return
		}
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

// setNode replaces (or adds) key's value in mapping m with v encoded.
func setNode(m *yaml.Node, key string, v any) error {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return err
	}
	removeKey(m, key)
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, &n)
	return nil
}

func removeKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// InitialDesired renders the desired.yaml a managed stack starts from.
func InitialDesired(st StackSpec, runtime, image string) ([]byte, error) {
	doc := spec.Document{APIVersion: spec.APIVersion, Kind: spec.Kind, Metadata: spec.Metadata{Name: "chat"}}
	doc.Spec.Model = st.Model
	doc.Spec.Strategy.Type = spec.StrategyBlueGreen
	doc.Spec.Strategy.DrainTimeout = st.DrainTimeout
	doc.Spec.Strategy.ReadyTimeout = st.ReadyTimeout
	doc.Spec.Warmup = st.Warmup
	doc.Spec.Resources = st.Resources
	doc.Spec.Runtime = runtime
	doc.Spec.Image = image
	var buf bytes.Buffer
	buf.WriteString("# desired.yaml of a stack started by zdml loadtest.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(omitZero(doc)); err != nil {
		return nil, err
	}
	if _, err := spec.Parse("desired.yaml", buf.Bytes()); err != nil {
		return nil, fmt.Errorf("initial desired.yaml is invalid:\n%w", err)
	}
	return buf.Bytes(), nil
}

// omitZero turns doc into a node tree without zero-valued fields, so that
// the spec's defaults apply to whatever the scenario leaves out.
func omitZero(doc spec.Document) *yaml.Node {
	var n yaml.Node
	_ = n.Encode(doc)
	prune(&n)
	return &n
}

func prune(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return
	}
	out := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		prune(v)
		if isZero(v) {
			continue
		}
		out = append(out, k, v)
	}
	n.Content = out
}

func isZero(v *yaml.Node) bool {
	switch v.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		return len(v.Content) == 0
	case yaml.ScalarNode:
		return v.Value == "" || v.Value == "0" || v.Value == "0s" || v.Value == "null" || strings.TrimSpace(v.Value) == "0B"
	}
	return false
}

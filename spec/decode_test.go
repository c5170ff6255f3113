package spec

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// good is a complete, valid desired.yaml; bad cases below edit it.
const good = `apiVersion: zdml/v1
kind: ModelDeployment
metadata: {name: chat}
spec:
  model: {name: demo, version: v2, path: models/demo-v2.gguf}
  strategy: {type: bluegreen, readyTimeout: 180s, drainTimeout: 30s}
  warmup: {prompts: ["Say hello"], maxLatency: 5s}
  resources: {memory: 2Gi, cpus: 1, threads: 1, parallel: 2}
  runtime: process
`

func TestParseBad(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{name: "invalid YAML", yaml: "apiVersion: zdml/v1\nkind: [ModelDeployment\n",
			want: "desired.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		{name: "tab indentation", yaml: "spec:\n\tmodel: {}\n",
			want: "desired.yaml:2: invalid YAML: found character that cannot start any token"},
		{name: "empty file", yaml: "", want: "desired.yaml: invalid YAML: empty document"},
		{name: "two documents", yaml: good + "---\n" + good,
			want: "desired.yaml: invalid YAML: more than one YAML document in the file"},
		{name: "not a mapping", yaml: "- a\n- b\n", want: "desired.yaml:1: want a mapping of fields, got a list"},
		{name: "unknown field", yaml: strings.Replace(good, "drainTimeout: 30s", "drainTimeout: 30s, canary: 10", 1),
			want: "desired.yaml:6: spec.strategy.canary: unknown field (want one of type, readyTimeout, drainTimeout, autoPromote, steps, analysis, sticky)"},
		{name: "unknown top-level field", yaml: good + "status: {}\n",
			want: "desired.yaml:10: status: unknown field (want one of apiVersion, kind, metadata, spec)"},
		{name: "duplicate field", yaml: good + "kind: ModelDeployment\n",
			want: "desired.yaml:10: kind: duplicate field"},
		{name: "wrong type integer", yaml: strings.Replace(good, "threads: 1", "threads: two", 1),
			want: `desired.yaml:8: spec.resources.threads: want an integer, got "two"`},
		{name: "wrong type quoted integer", yaml: strings.Replace(good, "threads: 1", `threads: "1"`, 1),
			want: `desired.yaml:8: spec.resources.threads: want an integer, got "1"`},
		{name: "wrong type mapping for string", yaml: strings.Replace(good, "runtime: process", "runtime: {type: process}", 1),
			want: "desired.yaml:9: spec.runtime: want a string, got a mapping"},
		{name: "wrong type list", yaml: strings.Replace(good, `prompts: ["Say hello"]`, "prompts: Say hello", 1),
			want: `desired.yaml:7: spec.warmup.prompts: want a list, got "Say hello"`},
		{name: "unknown strategy", yaml: strings.Replace(good, "type: bluegreen", "type: rolling", 1),
			want: `desired.yaml:6: spec.strategy.type: unknown strategy "rolling" (want bluegreen, prewarm or canary)`},
		{name: "unknown runtime", yaml: strings.Replace(good, "runtime: process", "runtime: k8s", 1),
			want: `desired.yaml:9: spec.runtime: unknown runtime "k8s" (want process, docker or kubernetes)`},
		{name: "docker without image", yaml: strings.Replace(good, "runtime: process", "runtime: docker", 1),
			want: "desired.yaml:4: spec.image: required for runtime docker"},
		{name: "bad duration", yaml: strings.Replace(good, "readyTimeout: 180s", "readyTimeout: 3 minutes", 1),
			want: `desired.yaml:6: spec.strategy.readyTimeout: want a duration such as "30s", got "3 minutes"`},
		{name: "duration without unit", yaml: strings.Replace(good, "readyTimeout: 180s", "readyTimeout: 180", 1),
			want: `desired.yaml:6: spec.strategy.readyTimeout: want a duration such as "30s", got "180"`},
		{name: "negative duration", yaml: strings.Replace(good, "drainTimeout: 30s", "drainTimeout: -30s", 1),
			want: `desired.yaml:6: spec.strategy.drainTimeout: duration "-30s" is negative`},
		{name: "duration out of range", yaml: strings.Replace(good, "readyTimeout: 180s", "readyTimeout: 2h", 1),
			want: "desired.yaml:6: spec.strategy.readyTimeout: 2h0m0s is out of range (want 1s to 1h0m0s)"},
		{name: "negative threads", yaml: strings.Replace(good, "threads: 1", "threads: -1", 1),
			want: "desired.yaml:8: spec.resources.threads: -1 is out of range (want 1 to 256)"},
		{name: "zero parallel written", yaml: strings.Replace(good, "parallel: 2", "parallel: 0", 1),
			want: "desired.yaml:8: spec.resources.parallel: 0 is out of range (want 1 to 64)"},
		{name: "negative cpus", yaml: strings.Replace(good, "cpus: 1", "cpus: -0.5", 1),
			want: "desired.yaml:8: spec.resources.cpus: -0.5 is out of range (want more than 0, at most 1024)"},
		{name: "negative memory", yaml: strings.Replace(good, "memory: 2Gi", "memory: -2Gi", 1),
			want: `desired.yaml:8: spec.resources.memory: want a memory size such as "2Gi" or "512Mi", got "-2Gi"`},
		{name: "memory too small", yaml: strings.Replace(good, "memory: 2Gi", "memory: 1Mi", 1),
			want: "desired.yaml:8: spec.resources.memory: 1Mi is out of range (want 16Mi to 4Ti)"},
		{name: "path escape", yaml: strings.Replace(good, "models/demo-v2.gguf", "models/../../etc/demo.gguf", 1),
			want: `desired.yaml:5: spec.model.path: "models/../../etc/demo.gguf" escapes the models directory (no .. allowed)`},
		{name: "path not gguf", yaml: strings.Replace(good, "models/demo-v2.gguf", "/etc/passwd", 1),
			want: `desired.yaml:5: spec.model.path: "/etc/passwd": want a .gguf file`},
		{name: "bad sha256", yaml: strings.Replace(good, "path: models/demo-v2.gguf", "path: models/demo-v2.gguf, sha256: abc123", 1),
			want: `desired.yaml:5: spec.model.sha256: "abc123" is not a sha256 (64 hex digits)`},
		{name: "unsafe version", yaml: strings.Replace(good, "version: v2", `version: "v2; rm -rf /"`, 1),
			want: `desired.yaml:5: spec.model.version: "v2; rm -rf /" is not a safe label (1-64 of A-Z a-z 0-9 . _ -)`},
		{name: "missing model", yaml: strings.Replace(good, "  model: {name: demo, version: v2, path: models/demo-v2.gguf}\n", "", 1),
			want: "desired.yaml:4: spec.model.name: required\n" +
				"desired.yaml:4: spec.model.version: required\n" +
				"desired.yaml:4: spec.model.path: required"},
		{name: "wrong apiVersion and kind", yaml: strings.Replace(strings.Replace(good, "zdml/v1", "zdml/v2", 1), "kind: ModelDeployment", "kind: Deployment", 1),
			want: "desired.yaml:1: apiVersion: want \"zdml/v1\", got \"zdml/v2\"\n" +
				"desired.yaml:2: kind: want \"ModelDeployment\", got \"Deployment\""},
		{name: "autoPromote with bluegreen", yaml: strings.Replace(good, "type: bluegreen", "type: bluegreen, autoPromote: false", 1),
			want: "desired.yaml:6: spec.strategy.autoPromote: applies only to strategy prewarm"},
		{name: "anchors", yaml: strings.Replace(good, "metadata: {name: chat}", "metadata: &m {name: chat}", 1),
			want: "desired.yaml:3: metadata: anchors and aliases are not supported"},
		{name: "empty prompt list", yaml: strings.Replace(good, `prompts: ["Say hello"]`, "prompts: []", 1),
			want: "desired.yaml:7: spec.warmup.prompts: want 1 to 16 prompts, got 0"},
		{name: "several errors together", yaml: strings.Replace(strings.Replace(good, "type: bluegreen", "type: rolling", 1), "threads: 1", "threads: x", 1),
			want: "desired.yaml:6: spec.strategy.type: unknown strategy \"rolling\" (want bluegreen, prewarm or canary)\n" +
				"desired.yaml:8: spec.resources.threads: want an integer, got \"x\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("desired.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", doc)
			}
			if doc != nil {
				t.Errorf("Parse returned a document with its error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	doc, err := Parse("desired.yaml", []byte(`apiVersion: zdml/v1
kind: ModelDeployment
metadata: {name: chat}
spec:
  model: {name: demo, version: v1, path: demo-v1.gguf}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := doc.Spec
	got := []any{s.Strategy.Type, s.Strategy.ReadyTimeout.Duration, s.Strategy.DrainTimeout.Duration,
		s.Strategy.AutoPromoteEnabled(), s.Warmup.Prompts[0], len(s.Warmup.Prompts), s.Warmup.MaxLatency.Duration,
		s.Warmup.MaxTokens, s.Resources.Memory, s.Resources.CPUs, s.Resources.Threads, s.Resources.Parallel,
		s.Resources.Ctx, s.Runtime}
	want := []any{"bluegreen", 180 * time.Second, 30 * time.Second, true, "Say hello", 1, 5 * time.Second,
		8, Quantity(2 << 30), 1.0, 1, 2, 2048, "process"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("default %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestParsePrewarm(t *testing.T) {
	y := strings.Replace(good, "type: bluegreen", "type: prewarm, autoPromote: false", 1)
	y = strings.Replace(y, "runtime: process", "runtime: docker\n  image: zdml/modelserver:dev", 1)
	doc, err := Parse("desired.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Spec.Strategy.AutoPromoteEnabled() || doc.Spec.Runtime != RuntimeDocker || doc.Spec.Image != "zdml/modelserver:dev" {
		t.Errorf("got %+v", doc.Spec)
	}
}

func TestParseNullIsAbsent(t *testing.T) {
	y := strings.Replace(good, "runtime: process", "runtime:", 1)
	doc, err := Parse("desired.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Spec.Runtime != RuntimeProcess {
		t.Errorf("runtime = %q, want the default process", doc.Spec.Runtime)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(t.TempDir() + "/nope.yaml")
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Load error = %v, want no such file", err)
	}
}

func TestParseTooLarge(t *testing.T) {
	_, err := Parse("big.yaml", []byte(good+"#"+strings.Repeat("x", MaxFileSize)))
	if err == nil || err.Error() != "big.yaml: file is larger than 1048576 bytes" {
		t.Errorf("error = %v", err)
	}
}

func TestParseNormalisesSHA256(t *testing.T) {
	y := strings.Replace(good, "path: models/demo-v2.gguf", "path: models/demo-v2.gguf, sha256: "+strings.Repeat("AB", 32), 1)
	doc := mustParse(t, y)
	if got := doc.Spec.Model.SHA256; got != strings.Repeat("ab", 32) {
		t.Errorf("sha256 = %s, want lower case", got)
	}
}

func TestParseCapsErrors(t *testing.T) {
	_, err := Parse("f.yaml", []byte(strings.Repeat("x: 1\n", 100)))
	errs, ok := err.(Errors)
	if !ok || len(errs) != MaxErrors+1 {
		t.Fatalf("got %d errors, want %d and a count: %v", len(errs), MaxErrors+1, err)
	}
	// 100 unknown x, then apiVersion, kind, metadata.name, model name, version, path: 106; 20 shown.
	if got, want := errs[MaxErrors].Error(), "f.yaml: and 86 more errors"; got != want {
		t.Errorf("last error %q, want %q", got, want)
	}
}

// located is a field type whose decoder reports errors below its own node.
type located []string

func (l *located) UnmarshalYAML(n *yaml.Node) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if v := n.Content[i+1]; v.Value == "" {
			return &FieldError{Line: v.Line, Field: "checks." + n.Content[i].Value, Msg: "want a check"}
		}
		*l = append(*l, n.Content[i].Value)
	}
	return nil
}

// Decode gives another package's struct (loadgen's scenarios) the rules of
// Parse, and keeps the line and field of a FieldError from a custom decoder.
func TestDecode(t *testing.T) {
	type target struct {
		Name   string   `yaml:"name"`
		Limits Warmup   `yaml:"limits"`
		Checks located  `yaml:"checks"`
		Tags   []string `yaml:"tags"`
	}
	tests := []struct {
		name, yaml, want string
	}{
		{name: "good", yaml: "name: a\nlimits:\n  maxTokens: 4\nchecks: {x: y}\ntags: [p]\n"},
		{name: "unknown field", yaml: "name: a\nlimit: {}\n", want: "t.yaml:2: limit: unknown field (want one of name, limits, checks, tags)"},
		{name: "wrong type", yaml: "limits:\n  maxTokens: many\n", want: `t.yaml:2: limits.maxTokens: want an integer, got "many"`},
		{name: "custom decoder locates", yaml: "name: a\nchecks:\n  x: y\n  z: \"\"\n", want: "t.yaml:4: checks.z: want a check"},
		{name: "two documents", yaml: "name: a\n---\nname: b\n", want: "t.yaml: invalid YAML: more than one YAML document in the file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got target
			lines, err := Decode("t.yaml", []byte(tt.yaml), &got)
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("Decode = %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "a" || got.Limits.MaxTokens != 4 || len(got.Checks) != 1 || len(got.Tags) != 1 {
				t.Errorf("decoded %+v", got)
			}
			if lines["limits"] != 2 || lines["limits.maxTokens"] != 3 || lines["tags[0]"] != 5 {
				t.Errorf("lines = %v; want limits at 2, limits.maxTokens at 3, tags[0] at 5", lines)
			}
		})
	}
}

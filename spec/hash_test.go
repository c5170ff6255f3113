package spec

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, y string) *Document {
	t.Helper()
	doc, err := Parse("desired.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestHashStable(t *testing.T) {
	base := mustParse(t, good).Spec.Hash()
	same := []struct{ name, yaml string }{
		{"comments and block style", `# a comment
apiVersion: zdml/v1
kind: ModelDeployment
metadata:
  name: chat
spec:
  runtime: process
  resources: {parallel: 2, threads: 1, cpus: 1.0, memory: 2048Mi}
  warmup:
    maxLatency: 5000ms
    prompts:
      - Say hello
  strategy:
    type: bluegreen
  model:
    path: demo-v2.gguf
    version: v2
    name: demo
`},
		{"another deployment name", strings.Replace(good, "name: chat", "name: other", 1)},
		{"image ignored by runtime process", strings.Replace(good, "runtime: process", "runtime: process\n  image: x", 1)},
	}
	for _, tt := range same {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, tt.yaml).Spec.Hash(); got != base {
				t.Errorf("Hash = %s, want %s (same deployment)", got, base)
			}
		})
	}
	differ := []struct{ name, yaml string }{
		{"version", strings.Replace(strings.Replace(good, "version: v2", "version: v3", 1), "demo-v2", "demo-v3", 1)},
		{"strategy", strings.Replace(good, "type: bluegreen", "type: prewarm", 1)},
		{"drain timeout", strings.Replace(good, "drainTimeout: 30s", "drainTimeout: 31s", 1)},
		{"prompt", strings.Replace(good, "Say hello", "Say hi", 1)},
	}
	for _, tt := range differ {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, tt.yaml).Spec.Hash(); got == base {
				t.Errorf("Hash unchanged by a change of %s", tt.name)
			}
		})
	}
}

// TestHashDefaultsInCode: a Spec built in code with zero values hashes like
// the same spec with defaults written out.
func TestHashDefaultsInCode(t *testing.T) {
	s := Spec{Model: Model{Name: "demo", Version: "v2", Path: "models/demo-v2.gguf"}}
	if got, want := s.Hash(), mustParse(t, good).Spec.Hash(); got != want {
		t.Errorf("Hash = %s, want %s", got, want)
	}
	if len(s.Hash()) != 64 {
		t.Errorf("Hash length %d, want 64", len(s.Hash()))
	}
}

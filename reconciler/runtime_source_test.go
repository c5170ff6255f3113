package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// TestWithRuntime: the runtime flag overrides desired.yaml's runtime and
// gives a docker spec the default image, leaving an explicit image alone.
func TestWithRuntime(t *testing.T) {
	dir := t.TempDir()
	write := func(extra string) Source {
		p := filepath.Join(dir, "desired.yaml")
		text := "apiVersion: zdml/v1\nkind: ModelDeployment\nmetadata:\n  name: chat\nspec:\n  model:\n    name: tiny\n    version: v1\n    path: tiny.gguf\n" + extra
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := NewFileSource(p, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	tests := []struct {
		name, extra, runtime, wantImage string
	}{
		{name: "process spec on docker", runtime: spec.RuntimeDocker, wantImage: "zdml/modelserver:local"},
		{name: "explicit image kept", extra: "  runtime: docker\n  image: mine:1\n", runtime: spec.RuntimeDocker, wantImage: "mine:1"},
		{name: "docker spec as processes", extra: "  runtime: docker\n  image: mine:1\n", runtime: spec.RuntimeProcess, wantImage: "mine:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := WithRuntime(write(tc.extra), tc.runtime, "zdml/modelserver:local")
			if err != nil {
				t.Fatal(err)
			}
			d, err := src.Read(context.Background())
			if err != nil || d.Err != nil {
				t.Fatal(err, d.Err)
			}
			if d.Doc.Spec.Runtime != tc.runtime || d.Doc.Spec.Image != tc.wantImage {
				t.Errorf("runtime %q image %q; want %q %q", d.Doc.Spec.Runtime, d.Doc.Spec.Image, tc.runtime, tc.wantImage)
			}
		})
	}
	if _, err := WithRuntime(write(""), "podman", "x"); err == nil {
		t.Error("unknown runtime accepted")
	}
}

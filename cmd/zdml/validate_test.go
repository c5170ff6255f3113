package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	if err := os.Mkdir(models, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(models, "demo-v1.gguf"), []byte("GGUF"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = "apiVersion: zdml/v1\nkind: ModelDeployment\nmetadata: {name: chat}\nspec:\n"
	good := write("good.yaml", head+"  model: {name: demo, version: v1, path: models/demo-v1.gguf}\n")
	missing := write("missing.yaml", head+"  model: {name: demo, version: v9, path: models/demo-v9.gguf}\n")
	bad := write("bad.yaml", head+"  model: {name: demo, version: v1, path: models/demo-v1.gguf}\n  strategy: {type: rolling}\n  runtime: k8s\n")

	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{name: "valid", args: []string{good}, wantOut: good + ": ok (demo v1, strategy bluegreen, runtime process, spec hash "},
		{name: "valid with models dir", args: []string{good, "--models-dir", models}, wantOut: "model file " + filepath.Join(models, "demo-v1.gguf")},
		{name: "flags first", args: []string{"--models-dir", models, good}, wantOut: ": ok ("},
		{name: "model file missing", args: []string{missing, "--models-dir", models}, wantErr: missing + ": spec.model.path: model file " + filepath.Join(models, "demo-v9.gguf") + ": file does not exist"},
		{name: "missing model ignored without models dir", args: []string{missing}, wantOut: ": ok ("},
		{name: "every error at once", args: []string{bad}, wantErr: bad + ":6: spec.strategy.type: unknown strategy \"rolling\" (want bluegreen, prewarm or canary)\n" +
			bad + ":7: spec.runtime: unknown runtime \"k8s\" (want process, docker or kubernetes)"},
		{name: "no file", args: nil, wantErr: "want exactly one FILE"},
		{name: "two files", args: []string{good, bad}, wantErr: "want exactly one FILE"},
		{name: "file not found", args: []string{filepath.Join(dir, "nope.yaml")}, wantErr: "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := validateCmd(&out, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

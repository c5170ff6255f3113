package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/models"
)

// captureStdout runs f and returns what it printed.
func captureStdout(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	ferr := f()
	os.Stdout = old
	w.Close()
	out, _ := io.ReadAll(r)
	return string(out), ferr
}

func TestModelsCommands(t *testing.T) {
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	// The repository's models directory: generate is idempotent, so this
	// checks the files make models left and rewrites none of them.
	dir := filepath.Join(testenv.RepoRoot(t), "models")
	tiny := models.Catalog()[0]
	if tiny.File != models.Tiny {
		t.Fatalf("first catalog entry is %s, want %s", tiny.File, models.Tiny)
	}
	t.Setenv("ZDML_MODELS_DIR", dir)
	if err := runModels(ctx, log, []string{"generate"}); err != nil {
		t.Fatal(err)
	}
	out, err := captureStdout(t, func() error {
		return runModels(ctx, log, []string{"inspect", filepath.Join(dir, models.Tiny)})
	})
	if err != nil {
		t.Fatal(err)
	}
	var info models.Info
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("inspect output is not JSON: %v\n%s", err, out)
	}
	if info.Architecture != "llama" || info.Quantization != "F32" || info.Name != "tiny" {
		t.Errorf("inspect tiny = %+v", info)
	}
	out, err = captureStdout(t, func() error { return runModels(ctx, log, []string{"list"}) })
	if err != nil || !strings.Contains(out, models.DemoV1) || !strings.Contains(out, tiny.SHA256) {
		t.Errorf("list = %q, %v; want every file with its sha256", out, err)
	}
	if large := models.LargeCatalog()[0]; !strings.Contains(out, large.File+" ") || !strings.Contains(out, large.SHA256+" (make models-large)") {
		t.Errorf("list = %q; want %s with its sha256 and the make target that generates it", out, large.File)
	}
	if err := runModels(ctx, log, []string{"generate", "extra"}); err == nil || !strings.Contains(err.Error(), "unexpected argument") {
		t.Errorf("generate with an argument: err = %v, want unexpected argument", err)
	}
	if err := runModels(ctx, log, []string{"inspect", filepath.Join(dir, models.BrokenTruncated)}); err == nil ||
		!strings.Contains(err.Error(), "truncated") {
		t.Errorf("inspect of the truncated fixture: err = %v, want a truncation error", err)
	}
	if err := runModels(ctx, log, []string{"download", "--url", "http://127.0.0.1:1/x"}); err == nil ||
		!strings.Contains(err.Error(), "--sha256 is required") {
		t.Errorf("download without --sha256: err = %v", err)
	}
	if err := runModels(ctx, log, []string{"frobnicate"}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("unknown subcommand: err = %v, want usage", err)
	}
}

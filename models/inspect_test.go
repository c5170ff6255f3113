package models

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

var (
	repoModelsOnce sync.Once
	repoModelsErr  error
)

// repoModel returns a file of the repository's models directory, generated
// like make models does (idempotent and cheap when already there).
func repoModel(t *testing.T, file string) string {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(t), "models")
	repoModelsOnce.Do(func() { _, repoModelsErr = Generate(context.Background(), dir) })
	if repoModelsErr != nil {
		t.Fatal(repoModelsErr)
	}
	return filepath.Join(dir, file)
}

// specFor finds a Catalog spec by file name.
func specFor(t *testing.T, file string) Spec {
	t.Helper()
	for _, s := range Catalog() {
		if s.File == file {
			return s
		}
	}
	t.Fatalf("no spec %s", file)
	return Spec{}
}

// wantParams counts a spec's weights from its shape, independently of the
// parser.
func wantParams(s Spec, vocab int) uint64 {
	perLayer := 2*s.Dim + 2*s.Dim*s.Dim + 2*s.Dim*s.kvDim() + 3*s.Dim*s.FFN
	return uint64(2*vocab*s.Dim + s.Dim + s.Layers*perLayer)
}

func TestInspectGenerated(t *testing.T) {
	vocab := len(newVocab().tokens)
	tests := []struct {
		file, name, version, quant string
	}{
		{Tiny, "tiny", "v1", "F32"},
		{DemoV1, "demo", "v1", "Q8_0"},
		{DemoV2, "demo", "v2", "Q8_0"},
		{BrokenDegen, "broken-degenerate", "v1", "F32"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s := specFor(t, tt.file)
			got, err := Inspect(repoModel(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(repoModel(t, tt.file))
			want := Info{Name: tt.name, Version: tt.version, Architecture: "llama",
				Parameters: wantParams(s, vocab), Quantization: tt.quant, ContextLength: 4096,
				EmbeddingSize: uint64(s.Dim), Layers: uint64(s.Layers), TokenizerModel: "llama",
				VocabSize: uint64(vocab), HasChatTmpl: true, FileSize: st.Size()}
			if got != want {
				t.Errorf("Inspect(%s)\n got %+v\nwant %+v", tt.file, got, want)
			}
		})
	}
}

func TestInspectBadFiles(t *testing.T) {
	dir := t.TempDir()
	tiny, err := os.ReadFile(repoModel(t, Tiny))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"generated truncated fixture", repoModel(t, BrokenTruncated), ErrTruncated},
		{"cut inside the header", write("header.gguf", tiny[:100]), ErrTruncated},
		{"cut one byte short", write("short.gguf", tiny[:len(tiny)-1]), ErrTruncated},
		{"empty file", write("empty.gguf", nil), ErrTruncated},
		{"text file", write("notes.gguf", []byte("this is not a model, just some text\n")), ErrNotGGUF},
		{"missing file", filepath.Join(dir, "missing.gguf"), fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Inspect(tt.path)
			if !errors.Is(err, tt.want) {
				t.Errorf("Inspect = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Inspect(dir); err == nil {
		t.Error("Inspect(directory) = nil error")
	}
}

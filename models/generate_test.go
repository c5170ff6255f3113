package models

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// small returns the Catalog's tiny-sized specs, cheap to generate.
func small(t *testing.T) []Spec {
	t.Helper()
	var out []Spec
	for _, s := range Catalog() {
		if s.Quant == F32 {
			out = append(out, s)
		}
	}
	if len(out) != 3 {
		t.Fatalf("catalog has %d tiny-sized specs, want 3", len(out))
	}
	return out
}

func TestGenerateIsDeterministicAcrossParallelism(t *testing.T) {
	// WriteGGUF writes tensors in parallel up to GOMAXPROCS: the bytes must
	// not depend on it.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	results, err := Generate(context.Background(), t.TempDir(), WithSpecs(small(t)...))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if want, _ := ExpectedSHA256(filepath.Base(r.File)); r.SHA256 != want {
			t.Errorf("%s with GOMAXPROCS=1: sha256 %s, want %s", r.File, r.SHA256, want)
		}
	}
}

func TestGenerateIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first, err := Generate(ctx, dir, WithSpecs(small(t)...))
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for _, r := range first {
		if !r.Written {
			t.Errorf("%s: first run did not write it", r.File)
		}
		if err := os.Chtimes(r.File, old, old); err != nil {
			t.Fatal(err)
		}
	}
	corrupt := first[0].File
	if err := os.WriteFile(corrupt, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := Generate(ctx, dir, WithSpecs(small(t)...))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range second {
		wantWritten := r.File == corrupt
		if r.Written != wantWritten {
			t.Errorf("%s: second run written = %v, want %v", r.File, r.Written, wantWritten)
		}
		st, err := os.Stat(r.File)
		if err != nil {
			t.Fatal(err)
		}
		if !wantWritten && !st.ModTime().Equal(old) {
			t.Errorf("%s: rewritten although its sha256 was right", r.File)
		}
		if r.SHA256 != first[i].SHA256 {
			t.Errorf("%s: sha256 %s, want %s", r.File, r.SHA256, first[i].SHA256)
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644 so servers running as other users can read it", r.File, st.Mode().Perm())
		}
	}
	assertOnlyModels(t, dir, len(second))
}

func TestGenerateRefusesUnpinnedBytes(t *testing.T) {
	dir := t.TempDir()
	s := small(t)[0]
	s.SHA256 = "0000000000000000000000000000000000000000000000000000000000000000"
	_, err := Generate(context.Background(), dir, WithSpecs(s))
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("Generate with a wrong pin: err = %v, want ErrChecksum", err)
	}
	if _, err := os.Stat(filepath.Join(dir, s.File)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was installed despite the checksum mismatch (stat err %v)", s.File, err)
	}
	assertOnlyModels(t, dir, 0)
}

func TestGenerateStopsWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(context.Background(), dir, WithSpecs(small(t)[0])); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, dir, WithSpecs(small(t)[0])); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestSpecValidate(t *testing.T) {
	base := demoSpec("x.gguf", "v1", 1)
	tests := []struct {
		name   string
		change func(*Spec)
	}{
		{"zero layers", func(s *Spec) { s.Layers = 0 }},
		{"heads do not divide dim", func(s *Spec) { s.Heads = 7 }},
		{"kv heads do not divide heads", func(s *Spec) { s.KVHeads = 5 }},
		{"Q8_0 ffn not a multiple of 32", func(s *Spec) { s.FFN = 100 }},
		{"Q4_0 dim not a multiple of 32", func(s *Spec) { s.Quant, s.Dim, s.Heads, s.KVHeads = Q4_0, 48, 4, 4 }},
		{"unknown quantization", func(s *Spec) { s.Quant = 7 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.change(&s)
			if err := s.validate(); err == nil {
				t.Errorf("validate(%+v) = nil, want an error", s)
			}
		})
	}
	if err := base.validate(); err != nil {
		t.Errorf("demo spec: %v", err)
	}
}

// assertOnlyModels checks that dir holds n files and no temporary leftovers.
func assertOnlyModels(t *testing.T, dir string, n int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("dir holds %v, want %d model files and nothing else", names, n)
	}
}

func TestPaddedVocab(t *testing.T) {
	v := newVocab()
	p, err := v.padded(SmolLM2Vocab)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.tokens) != SmolLM2Vocab || len(p.scores) != SmolLM2Vocab || len(p.types) != SmolLM2Vocab || len(p.emit) != SmolLM2Vocab {
		t.Fatalf("padded lengths %d/%d/%d/%d, want %d", len(p.tokens), len(p.scores), len(p.types), len(p.emit), SmolLM2Vocab)
	}
	seen := map[string]bool{}
	for i, tok := range p.tokens {
		if seen[tok] {
			t.Fatalf("token %d %q is a duplicate: llama.cpp needs unique token strings", i, tok)
		}
		seen[tok] = true
		if i < len(v.tokens) {
			if tok != v.tokens[i] || p.emit[i] != v.emit[i] {
				t.Fatalf("token %d changed by padding", i)
			}
			continue
		}
		if p.types[i] != tokenUnused || p.emit[i] {
			t.Fatalf("padding token %d %q: type %d, emit %v; want unused and never emitted", i, tok, p.types[i], p.emit[i])
		}
	}
	if len(v.tokens) == SmolLM2Vocab {
		t.Fatal("the base vocabulary was modified")
	}
	if _, err := v.padded(len(v.tokens) - 1); err == nil {
		t.Error("padding to fewer tokens than the vocabulary has: no error")
	}
}

func TestLargeCatalogHasSmolLM2Shape(t *testing.T) {
	// The dimensions of SmolLM2-1.7B (its config.json), which the load
	// tests compare with the original design's measurements.
	for _, s := range LargeCatalog() {
		got := [7]int{s.Dim, s.Layers, s.Heads, s.KVHeads, s.FFN, s.Context, s.Vocab}
		if want := [7]int{2048, 24, 32, 32, 8192, 8192, 49152}; got != want || s.Quant != Q4_0 {
			t.Errorf("%s: dim, layers, heads, kv heads, ffn, context, vocab = %v %v, want %v Q4_0", s.File, got, s.Quant, want)
		}
		if err := s.validate(); err != nil {
			t.Error(err)
		}
	}
}

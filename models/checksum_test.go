package models

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestSHA256(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "abc")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := SHA256(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	// FIPS 180-2's test vector for "abc".
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("SHA256(abc) = %s, want %s", got, want)
	}
	if _, err := SHA256(context.Background(), filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SHA256(ctx, p); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

func TestGeneratedFilesMatchPinnedSums(t *testing.T) {
	// What desired.yaml files pin is what make models leaves on disk.
	for _, s := range Catalog() {
		t.Run(s.File, func(t *testing.T) {
			got, err := SHA256(context.Background(), repoModel(t, s.File))
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := ExpectedSHA256(s.File); !ok || got != want {
				t.Errorf("sha256(%s) = %s, want %s", s.File, got, want)
			}
		})
	}
}

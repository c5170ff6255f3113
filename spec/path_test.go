package spec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestModelPath(t *testing.T) {
	root := t.TempDir()
	models := filepath.Join(root, "models")
	outside := filepath.Join(root, "outside")
	for _, d := range []string{models, outside, filepath.Join(models, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string) {
		if err := os.WriteFile(p, []byte("GGUF"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(models, "demo-v2.gguf"))
	write(filepath.Join(models, "sub", "x.gguf"))
	write(filepath.Join(outside, "secret.gguf"))
	symlink := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(models, name)); err != nil {
			t.Fatal(err)
		}
	}
	symlink(filepath.Join(outside, "secret.gguf"), "escape.gguf")
	symlink("demo-v2.gguf", "alias.gguf")
	symlink(outside, "outdir")
	if err := os.Mkdir(filepath.Join(models, "dir.gguf"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := func(name string) string { return filepath.Join(models, name) }

	tests := []struct {
		name    string
		path    string
		want    string
		wantErr error // nil: success; else errors.Is target, or errAny
	}{
		{name: "models prefix", path: "models/demo-v2.gguf", want: want("demo-v2.gguf")},
		{name: "bare name", path: "demo-v2.gguf", want: want("demo-v2.gguf")},
		{name: "subdirectory", path: "sub/x.gguf", want: want("sub/x.gguf")},
		{name: "absolute inside", path: want("demo-v2.gguf"), want: want("demo-v2.gguf")},
		{name: "symlink inside resolves", path: "alias.gguf", want: want("demo-v2.gguf")},
		{name: "dot dot", path: "models/../outside/secret.gguf", wantErr: errAny},
		{name: "dot dot hidden in the middle", path: "sub/../../outside/secret.gguf", wantErr: errAny},
		{name: "absolute outside", path: filepath.Join(outside, "secret.gguf"), wantErr: ErrEscapes},
		{name: "symlink escaping", path: "escape.gguf", wantErr: ErrEscapes},
		{name: "symlinked directory escaping", path: "outdir/secret.gguf", wantErr: ErrEscapes},
		{name: "missing file", path: "models/demo-v9.gguf", wantErr: fs.ErrNotExist},
		{name: "directory", path: "dir.gguf", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := &Document{Spec: Spec{Model: Model{Path: tt.path}}}
			got, err := doc.ModelPath(models)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("ModelPath(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ModelPath(%q) = %q, want an error", tt.path, got)
			}
			if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
				t.Fatalf("ModelPath(%q) error = %v, want %v", tt.path, err, tt.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

// TestModelPathSymlinkedModelsDir: a models directory that is itself a
// symlink (a shared disk) is fine; files in it resolve.
func TestModelPathSymlinkedModelsDir(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "a.gguf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "models")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	got, err := Model{Path: "models/a.gguf"}.Resolve(link)
	if err != nil || got != filepath.Join(real, "a.gguf") {
		t.Fatalf("Resolve = %q, %v", got, err)
	}
}

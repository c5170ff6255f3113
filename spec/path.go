package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrEscapes is returned by ModelPath when the model path leaves the models
// directory, lexically or through a symlink.
var ErrEscapes = errors.New("escapes the models directory")

// ModelsPrefix is the leading path element ModelPath strips: desired.yaml
// lives at the repository root, where the models directory is "models/".
const ModelsPrefix = "models/"

// ModelPath resolves spec.model.path under modelsDir and returns the model
// file's real absolute path (symlinks resolved). "models/demo-v2.gguf" and
// "demo-v2.gguf" both name modelsDir/demo-v2.gguf. The path may not leave
// modelsDir: "..", absolute paths outside it and symlinks pointing out of it
// are rejected with ErrEscapes. A missing file is an error wrapping
// fs.ErrNotExist. Checking the content (sha256, GGUF header) is the
// reconciler's pre-flight.
func (d *Document) ModelPath(modelsDir string) (string, error) {
	return d.Spec.Model.Resolve(modelsDir)
}

// Resolve is ModelPath for a Model; see Document.ModelPath.
func (m Model) Resolve(modelsDir string) (string, error) {
	if err := checkModelPath(m.Path); err != nil {
		return "", fmt.Errorf("model path: %w", err)
	}
	root, err := filepath.Abs(modelsDir)
	if err != nil {
		return "", fmt.Errorf("models dir: %w", err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("models dir: %w", err)
	}
	p := filepath.FromSlash(m.Path)
	if filepath.IsAbs(p) {
		if !within(realRoot, p) && !within(root, p) {
			return "", fmt.Errorf("model path %q: %w %s", m.Path, ErrEscapes, root)
		}
	} else {
		p = filepath.Join(root, strings.TrimPrefix(filepath.ToSlash(p), ModelsPrefix))
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("model file %s: %w", p, fs.ErrNotExist)
		}
		return "", fmt.Errorf("model file: %w", err)
	}
	if !within(realRoot, real) {
		return "", fmt.Errorf("model path %q resolves to %s: %w %s", m.Path, real, ErrEscapes, root)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("model file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("model file %s: not a regular file", real)
	}
	return real, nil
}

// within reports whether p is dir or lies beneath it, lexically.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, filepath.Clean(p))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

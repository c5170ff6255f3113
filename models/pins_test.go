package models

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// TestRepositoryPinsCurrentSums checks every desired*.yaml in the repository
// that pins a generated model: a stale sha256 there would make pre-flight
// refuse a perfectly good model after the generator changed.
func TestRepositoryPinsCurrentSums(t *testing.T) {
	root := testenv.RepoRoot(t)
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == ".zdml") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), "desired") || !strings.HasSuffix(d.Name(), ".yaml") {
			return nil
		}
		for _, pin := range modelPins(t, path) {
			found++
			want, ok := ExpectedSHA256(filepath.Base(pin.Path))
			if ok && pin.SHA256 != "" && pin.SHA256 != want {
				t.Errorf("%s pins %s to sha256 %s, but make models makes %s",
					strings.TrimPrefix(path, root+"/"), pin.Path, pin.SHA256, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d model pins checked", found)
}

type modelPin struct {
	Path   string `yaml:"path"`
	SHA256 string `yaml:"sha256"`
}

// modelPins reads spec.model of every YAML document in path.
func modelPins(t *testing.T, path string) []modelPin {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pins []modelPin
	dec := yaml.NewDecoder(f)
	for {
		var doc struct {
			Spec struct {
				Model modelPin `yaml:"model"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return pins
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc.Spec.Model.Path != "" {
			pins = append(pins, doc.Spec.Model)
		}
	}
}

package spec_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/models"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestRootDesiredYAML: the example a user edits first validates, pins the
// checksum the generator promises, and that checksum is the real file's.
func TestRootDesiredYAML(t *testing.T) {
	root := testenv.RepoRoot(t)
	doc, err := spec.Load(filepath.Join(root, "desired.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Base(doc.Spec.Model.Path)
	pinned, ok := models.ExpectedSHA256(file)
	if !ok {
		t.Fatalf("desired.yaml names %s, which the generator does not make", file)
	}
	if doc.Spec.Model.SHA256 != pinned {
		t.Errorf("desired.yaml sha256 = %s, want the generator's %s", doc.Spec.Model.SHA256, pinned)
	}
	path, err := doc.ModelPath(testenv.ModelsDir(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := models.SHA256(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if got != doc.Spec.Model.SHA256 {
		t.Errorf("generated %s has sha256 %s, desired.yaml pins %s", path, got, doc.Spec.Model.SHA256)
	}
}

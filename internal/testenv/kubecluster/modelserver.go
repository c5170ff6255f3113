package kubecluster

import (
	"sync"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
)

// modelserverImported is the model-server image's import into the shared
// cluster, done once per test process: the node keeps it.
var modelserverImported struct {
	sync.Once
	err error
}

// ModelserverImage builds the model-server image (make images) and makes
// the node hold it, imported from the local Docker Engine once per test
// process, and returns its reference for pod specs.
func (c *Cluster) ModelserverImage(t testing.TB) string {
	t.Helper()
	dockertest.Images(t, "modelserver")
	image := dockertest.ModelserverImage()
	modelserverImported.Do(func() { modelserverImported.err = c.ImportDockerImage(image) })
	if modelserverImported.err != nil {
		t.Fatal(modelserverImported.err)
	}
	return image
}

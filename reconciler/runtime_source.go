package reconciler

import (
	"context"
	"fmt"

	"github.com/zero-downtime-ml/zdml/spec"
)

// WithRuntime makes every desired state read from src run on runtime,
// whatever its spec.runtime says: `zdml reconcile --runtime docker`, as the
// compose stack runs it, deploys the same desired.yaml that a laptop runs
// as processes. A spec without an image gets image. Nothing else changes;
// the spec hash follows the runtime, so switching it redeploys.
func WithRuntime(src Source, runtime, image string) (Source, error) {
	switch runtime {
	case spec.RuntimeProcess:
	case spec.RuntimeDocker:
		if image == "" {
			return nil, fmt.Errorf("runtime %s: no model-server image (set ZDML_MODELSERVER_IMAGE)", runtime)
		}
	default:
		return nil, fmt.Errorf("runtime %q: want %s or %s", runtime, spec.RuntimeProcess, spec.RuntimeDocker)
	}
	return runtimeSource{Source: src, runtime: runtime, image: image}, nil
}

type runtimeSource struct {
	Source
	runtime, image string
}

// Read reads the desired state and sets its runtime (and image).
func (s runtimeSource) Read(ctx context.Context) (Desired, error) {
	d, err := s.Source.Read(ctx)
	if err != nil || d.Doc == nil {
		return d, err
	}
	doc := *d.Doc
	doc.Spec.Runtime = s.runtime
	if s.runtime == spec.RuntimeDocker && doc.Spec.Image == "" {
		doc.Spec.Image = s.image
	}
	d.Doc = &doc
	return d, nil
}

// String names the source and the forced runtime.
func (s runtimeSource) String() string {
	return s.Source.String() + " (runtime " + s.runtime + ")"
}

package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// configHash identifies what a running color cannot change without a
// restart: the model, the resources and the runtime. Strategy and warm-up
// settings are not in it, so editing a drain timeout is applied without
// restarting anything, while Spec.Hash (the quarantine key) still changes.
func configHash(s spec.Spec) string {
	key := struct {
		Model     spec.Model
		Resources spec.Resources
		Runtime   string
		Image     string
		// Kubernetes shapes the pods (the volumes); nil, and left out of
		// the hash, on the other runtimes, whose hashes stay as they were.
		Kubernetes *spec.Kubernetes `json:",omitempty"`
	}{s.Model, s.Resources, s.Runtime, s.Image, nil}
	switch key.Runtime {
	case spec.RuntimeDocker:
	case spec.RuntimeKubernetes:
		key.Kubernetes = s.Kubernetes
	default:
		key.Image = ""
	}
	b, _ := json.Marshal(key)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// revisionOf is the Revision of a usable desired state.
func revisionOf(d Desired) Revision {
	s := d.Doc.Spec
	return Revision{SpecHash: s.Hash(), ConfigHash: configHash(s), Commit: d.Commit, Digest: d.Digest,
		Model: s.Model.Name, Version: s.Model.Version, App: d.Doc.Metadata.Name, Spec: &s, At: time.Now().UTC()}
}

// instance is what a driver runs for rev on color c.
func (r *Reconciler) instance(rev Revision, c spec.Color, modelPath, sum string, p driver.Priority) driver.Instance {
	s := rev.Spec
	return driver.Instance{
		Color: c, Addr: r.cfg.ColorAddrs[c], ModelName: s.Model.Name, ModelVersion: s.Model.Version,
		ModelPath: modelPath, ModelSHA256: sum, Image: s.Image, Threads: s.Resources.Threads,
		Parallel: s.Resources.Parallel, Ctx: s.Resources.Ctx, Memory: s.Resources.Memory, CPUs: s.Resources.CPUs,
		Priority: p, ShutdownTimeout: driver.ShutdownTimeoutFor(s.Strategy.DrainTimeout.Duration), ConfigHash: rev.ConfigHash,
	}
}

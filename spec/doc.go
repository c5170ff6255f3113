// Package spec is desired.yaml: the declarative state a user commits (model
// version, strategy, warm-up gate, resources, runtime), its strict decoder and
// its validation. The reconciler converges the machine to a Spec; nothing
// else in the system reads the file.
package spec

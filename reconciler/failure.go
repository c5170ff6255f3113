package reconciler

import (
	"context"
	"errors"
	"syscall"

	"github.com/zero-downtime-ml/zdml/internal/dockercall"
	"github.com/zero-downtime-ml/zdml/nginx"
)

// A deploy that fails is either stalled or retrying, as Flux tells a
// Stalled from a Reconciling object:
//   - permanent: the desired state itself is wrong (a bad spec, a model
//     file that is missing, corrupt or cannot generate, a failed gate).
//     Trying again changes nothing: the spec is quarantined until it
//     changes, or a human runs zdml deploy.
//   - transient: the environment is in the way (a port held by another
//     process, the Docker daemon down, a full disk, nginx not answering in
//     time). It goes away by itself: the deploy is retried with a capped
//     backoff (retry.go) and never quarantined.

// Transient failure kinds: the label of zdml_reconciler_deploy_retries_total
// and the reason of the Progressing condition while retrying.
const (
	TransientPortInUse = "port_in_use"
	TransientDocker    = "docker_unavailable"
	TransientDisk      = "disk"
	TransientMemory    = "memory"
	TransientNginx     = "nginx"
	TransientActive    = "active_unavailable"
	TransientState     = "state_unwritable"
)

// TransientKinds lists every transient failure kind.
var TransientKinds = []string{TransientPortInUse, TransientDocker, TransientDisk, TransientMemory, TransientNginx,
	TransientActive, TransientState}

// transientError marks an error as a failure of the environment.
type transientError struct {
	kind string
	err  error
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// transient marks err as a failure of the environment of the given kind.
func transient(kind string, err error) error {
	if err == nil {
		return nil
	}
	return &transientError{kind: kind, err: err}
}

// transientKind classifies a deploy's failure: the kind of a failure of
// the environment, or "" for a permanent one. A deploy cancelled on
// purpose (zdml rollback, zdml abort, a newer commit) is never transient.
func transientKind(err error) string {
	var te *transientError
	switch {
	case err == nil, errors.Is(err, errRollbackRequested), errors.Is(err, errCanaryAborted), errors.Is(err, errSuperseded),
		errors.Is(err, context.Canceled):
		return ""
	case errors.As(err, &te):
		return te.kind
	case errors.Is(err, syscall.EADDRINUSE):
		return TransientPortInUse
	case errors.Is(err, dockercall.ErrUnavailable):
		return TransientDocker
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return TransientDisk
	case errors.Is(err, nginx.ErrTimeout), errors.Is(err, nginx.ErrNotRunning):
		return TransientNginx
	}
	return ""
}

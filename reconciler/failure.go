package reconciler

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/dockercall"
	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
	"github.com/zero-downtime-ml/zdml/spec"
)

// unreachable marks a failure of deploy d as transient when its
// runtime's API server does not answer now (kubernetes.ErrUnavailable):
// a gate that timed out because the reconciler could not reach the
// standby through it says nothing about the standby. A failure already
// classified, or on a runtime that is reachable, is returned as it is.
func (r *Reconciler) unreachable(ctx context.Context, d *deploy, cause error) error {
	if transientKind(cause) != "" || d.target.Spec == nil || d.target.Spec.Runtime != spec.RuntimeKubernetes {
		return cause
	}
	drv, err := r.driver(spec.RuntimeKubernetes)
	if err != nil {
		return cause
	}
	p, ok := drv.(reachable)
	if !ok {
		return cause
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Reachable(cctx); err != nil && runtimeUnavailable(err) {
		return transient(TransientKubernetes, fmt.Errorf("%w (and now: %v)", cause, err))
	}
	return cause
}

// runtimeUnavailable reports whether err means a runtime's API server
// could not be asked at all (runtime kubernetes): what it would have said
// is unknown, not "nothing runs".
func runtimeUnavailable(err error) bool { return errors.Is(err, kubernetes.ErrUnavailable) }

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
	// TransientKubernetes is an API server that could not be asked
	// (kubernetes.ErrUnavailable), or that does not answer when a gate
	// timed out on runtime kubernetes.
	TransientKubernetes = "kubernetes_unavailable"
	// TransientCapacity is a standby the runtime had nowhere to run
	// within readyTimeout (driver.Status.Unplaced: a pod no node has room
	// for, maybe because the active color holds it).
	TransientCapacity = "capacity"
)

// TransientKinds lists every transient failure kind.
var TransientKinds = []string{TransientPortInUse, TransientDocker, TransientDisk, TransientMemory, TransientNginx,
	TransientActive, TransientState, TransientKubernetes, TransientCapacity}

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
	case errors.Is(err, kubernetes.ErrUnavailable):
		return TransientKubernetes
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return TransientDisk
	case errors.Is(err, nginx.ErrTimeout), errors.Is(err, nginx.ErrNotRunning):
		return TransientNginx
	}
	return ""
}

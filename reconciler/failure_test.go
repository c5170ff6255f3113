package reconciler

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/dockercall"
	"github.com/zero-downtime-ml/zdml/internal/portcheck"
	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
)

// TestTransientKind: failures of the environment are retried, each with
// its kind; what the spec gets wrong, and a deploy cancelled on purpose,
// are not. The port error is a real one from a held port.
func TestTransientKind(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	inUse := portcheck.Free(ln.Addr().String())
	kubeDown := fmt.Errorf("kubernetes get deployment chat-green: %w: dial tcp: connection refused", kubernetes.ErrUnavailable)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"port in use", fmt.Errorf("standby green: %w", inUse), TransientPortInUse},
		{"docker daemon down", fmt.Errorf("docker start zdml-green: %w", dockercall.ErrUnavailable), TransientDocker},
		{"disk full", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, TransientDisk},
		{"nginx timeout", fmt.Errorf("reload: %w", nginx.ErrTimeout), TransientNginx},
		{"marked", transient(TransientMemory, errors.New("memory: 1Gi available")), TransientMemory},
		{"kubernetes api server down", fmt.Errorf("start green: %w", kubeDown), TransientKubernetes},
		{"no room for the standby", transient(TransientCapacity, errors.New("standby green: nowhere to run it within readyTimeout")), TransientCapacity},
		{"state unwritable", transient(TransientState, errors.New("record state: rename: is a directory")), TransientState},
		{"bad model", errors.New("model x.gguf: sha256 ab, want cd"), ""},
		{"rollback requested", fmt.Errorf("%w: %w", errRollbackRequested, inUse), ""},
		{"superseded", fmt.Errorf("%w: %w", errSuperseded, nginx.ErrTimeout), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transientKind(tt.err); got != tt.want {
				t.Errorf("transientKind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

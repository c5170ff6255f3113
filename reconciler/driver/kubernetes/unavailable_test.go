package kubernetes

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestUnavailable: an API server that cannot be asked (nothing listens
// there: a real refused connection) or says it cannot serve now wraps
// ErrUnavailable, which the reconciler retries; one that answers no
// (forbidden, not found) or a caller that went away does not.
func TestUnavailable(t *testing.T) {
	k, err := New(driver.Config{App: app, Kubernetes: &spec.Kubernetes{Namespace: "llm"}},
		WithRESTConfig(&rest.Config{Host: "https://" + testenv.FreeAddr(t)}))
	if err != nil {
		t.Fatal(err)
	}
	refused := k.Reachable(context.Background())
	gr := schema.GroupResource{Resource: "deployments"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"service unavailable", wrap("get deployment", apierrors.NewServiceUnavailable("etcd is down")), true},
		{"too many requests", wrap("list pods", apierrors.NewTooManyRequests("slow down", 1)), true},
		{"forbidden", wrap("get deployment", apierrors.NewForbidden(gr, "chat-blue", errors.New("rbac"))), false},
		{"not found", wrap("get deployment", apierrors.NewNotFound(gr, "chat-blue")), false},
		{"caller gone", wrap("get deployment", context.Canceled), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errors.Is(tt.err, ErrUnavailable); got != tt.want {
				t.Errorf("errors.Is(%v, ErrUnavailable) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

package reconciler

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/nginx"
)

func TestNewNginxRunner(t *testing.T) {
	env := map[string]string{"ZDML_NGINX_CONTAINER": "edge", "ZDML_NGINX_CREATE": "false"}
	getenv := func(k string) string { return env[k] }
	r, err := NewNginxRunner(NginxDocker, "/s", getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := r.(*nginx.Docker); !ok || d.Name() != "edge" || d.Dir() != "/s/nginx" {
		t.Errorf("runner = %#v; want the nginx container edge on /s/nginx", r)
	}
	env["ZDML_NGINX_CREATE"] = "sometimes"
	if _, err := NewNginxRunner(NginxDocker, "/s", getenv, nil); err == nil || !strings.Contains(err.Error(), "ZDML_NGINX_CREATE") {
		t.Errorf("malformed ZDML_NGINX_CREATE: %v", err)
	}
	if _, err := NewNginxRunner("k8s", "/s", getenv, nil); err == nil {
		t.Error("unknown nginx runtime accepted")
	}
}

// TestNoNginx: --nginx none runs nothing, and says why a spec that needs
// nginx cannot be served.
func TestNoNginx(t *testing.T) {
	r, err := NewNginxRunner(NginxNone, "/s", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if st, err := r.Status(ctx); err != nil || st.Running {
		t.Errorf("status %+v, %v; want not running", st, err)
	}
	if err := r.Start(ctx); !errors.Is(err, errNoNginx) {
		t.Errorf("start: %v, want errNoNginx", err)
	}
}

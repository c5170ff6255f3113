package reconciler

import (
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

// Package dockertest gives tests the real Docker Engine: a client that
// fails loudly when the engine is unreachable (CI may not skip), a
// per-test owner label whose containers, volumes and networks are removed
// when the test ends, the repository's images, and daemons that are down
// or hung for the error paths.
package dockertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// Client connects to the engine or fails the test: make test runs against
// it, and CI may not skip.
func Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("the Docker Engine is unreachable (%v): these tests need it; start dockerd", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Owner returns a unique owner ("zdmltest-" and 8 hex digits) and removes
// everything labelled label=owner when the test ends.
func Owner(t testing.TB, c *client.Client, label string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	owner := "zdmltest-" + hex.EncodeToString(b)
	t.Cleanup(func() { RemoveOwned(t, c, label, owner) })
	return owner
}

// RemoveOwned force-removes the containers, then the volumes and networks,
// labelled label=owner.
func RemoveOwned(t testing.TB, c *client.Client, label, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", label+"="+owner))
	list, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, ct := range list {
		if err := c.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("cleanup container %s: %v", ct.Names, err)
		}
	}
	vols, err := c.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err == nil {
		for _, v := range vols.Volumes {
			if err := c.VolumeRemove(ctx, v.Name, true); err != nil {
				t.Errorf("cleanup volume %s: %v", v.Name, err)
			}
		}
	}
	nets, err := c.NetworkList(ctx, network.ListOptions{Filters: f})
	if err == nil {
		for _, n := range nets {
			if err := c.NetworkRemove(ctx, n.ID); err != nil {
				t.Errorf("cleanup network %s: %v", n.Name, err)
			}
		}
	}
}

// Images builds the repository's images (docker/images.sh, e.g. "nginx",
// "modelserver", "zdml") once per test binary; it is a no-op when their
// content has not changed.
func Images(t testing.TB, names string) {
	t.Helper()
	testenv.Make(t, "images", "IMAGES="+names)
}

// ModelserverImage is the model-server image the tests run:
// ZDML_MODELSERVER_IMAGE, or the one `make images` builds.
func ModelserverImage() string { return envOr("ZDML_MODELSERVER_IMAGE", "zdml/modelserver:local") }

// NginxImage is the nginx image the tests run: ZDML_NGINX_IMAGE, or the
// one `make images` builds.
func NginxImage() string { return envOr("ZDML_NGINX_IMAGE", "zdml/nginx:local") }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// RepoImages builds the model-server and nginx images once per test binary
// (a no-op when their content has not changed) and returns their names.
func RepoImages(t testing.TB) (modelserver, nginx string) {
	t.Helper()
	Images(t, "modelserver nginx")
	return ModelserverImage(), NginxImage()
}

// LabelledContainer creates (without starting) a container of the model
// server image with the given name and labels: a stranger's container, or
// an orphan of ours, for the ownership tests.
func LabelledContainer(t testing.TB, c *client.Client, name string, labels map[string]string) string {
	t.Helper()
	image, _ := RepoImages(t)
	resp, err := c.ContainerCreate(context.Background(), &container.Config{Image: image, Labels: labels}, nil, nil, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	return resp.ID
}

// DeadDaemon is a client of a Docker Engine that cannot serve, and what
// an error about it must say.
type DeadDaemon struct {
	Name   string
	Client *client.Client
	Want   string
}

// DeadDaemons returns clients of two daemons for the error paths: "down",
// a socket nobody listens on (the error must ask whether dockerd runs),
// and "hung", one that accepts connections and never answers (the error
// must say no answer came in time). The hung listener closes when the
// test ends.
func DeadDaemons(t testing.TB) []DeadDaemon {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, "hang.sock"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		var conns []net.Conn // held open, never answered
		for {
			conn, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, conn)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	var out []DeadDaemon
	for _, d := range []struct{ name, sock, want string }{
		{"down", "absent.sock", "is dockerd running?"},
		{"hung", "hang.sock", "no answer within"},
	} {
		c, err := client.NewClientWithOpts(client.WithHost("unix://"+filepath.Join(dir, d.sock)), client.WithVersion("1.41"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		out = append(out, DeadDaemon{Name: d.name, Client: c, Want: d.want})
	}
	return out
}

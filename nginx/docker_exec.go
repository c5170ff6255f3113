package nginx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/zero-downtime-ml/zdml/internal/dockercall"
)

// ErrDockerUnavailable wraps errors that mean the Docker daemon could not be
// reached or did not answer in time (the reconciler's is the same value).
var ErrDockerUnavailable = dockercall.ErrUnavailable

// nginxArgs are nginx's flags for a config file in Dir, as in the image's
// entrypoint: prefix Dir, foreground, workers as root (the state directory
// may be private to root).
func (d *Docker) nginxArgs(conf string) []string {
	return []string{"-p", d.dir + "/", "-e", "logs/error.log", "-c", conf, "-g", "daemon off; user root;"}
}

// Test runs `nginx -t` on Dir/file: with exec in the running container, or
// in a one-off container of the same image before the first start.
func (d *Docker) Test(ctx context.Context, file string) error {
	if err := d.prepareDirs(); err != nil {
		return err
	}
	cmd := append([]string{"/usr/sbin/nginx", "-t", "-q"}, d.nginxArgs(filepath.Join(d.dir, file))...)
	c, found, err := d.inspect(ctx)
	if err != nil {
		return err
	}
	var out string
	var code int
	if found && isRunning(c) {
		out, code, err = d.exec(ctx, c.ID, cmd)
	} else {
		out, code, err = d.runOnce(ctx, cmd)
	}
	if err != nil {
		return fmt.Errorf("nginx -t %s: %w", file, err)
	}
	if code != 0 {
		return fmt.Errorf("nginx -t %s: exit status %d: %s", file, code, strings.TrimSpace(out))
	}
	return nil
}

// exec runs cmd in a running container and returns its output and exit code.
func (d *Docker) exec(ctx context.Context, id string, cmd []string) (out string, code int, err error) {
	err = d.call(ctx, "exec nginx -t", func(ctx context.Context) error {
		ex, err := d.api.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
		if err != nil {
			return err
		}
		att, err := d.api.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
		if err != nil {
			return err
		}
		defer att.Close()
		var buf bytes.Buffer
		if _, err := stdcopy.StdCopy(&buf, &buf, io.LimitReader(att.Reader, 1<<20)); err != nil {
			return err
		}
		out = buf.String()
		insp, err := d.api.ContainerExecInspect(ctx, ex.ID)
		code = insp.ExitCode
		return err
	})
	return out, code, err
}

// runOnce runs cmd in a throwaway container with Dir mounted, waits for it
// and removes it.
func (d *Docker) runOnce(ctx context.Context, cmd []string) (out string, code int, err error) {
	cfg := &container.Config{Image: d.image, Entrypoint: cmd[:1], Cmd: cmd[1:],
		Labels: map[string]string{labelOwner: d.owner, labelRole: "nginx-test", labelCreator: "zdml"}}
	host := &container.HostConfig{NetworkMode: container.NetworkMode(d.netMode),
		Mounts: []mount.Mount{{Type: mount.TypeBind, Source: d.dir, Target: d.dir}}}
	var id string
	err = d.call(ctx, "create nginx -t", func(ctx context.Context) error {
		resp, err := d.api.ContainerCreate(ctx, cfg, host, nil, nil, "")
		id = resp.ID
		return err
	})
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = d.remove(context.WithoutCancel(ctx), id) }()
	err = d.call(ctx, "run nginx -t", func(ctx context.Context) error {
		waitC, errC := d.api.ContainerWait(ctx, id, container.WaitConditionNextExit)
		if err := d.api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			return err
		}
		select {
		case w := <-waitC:
			code = int(w.StatusCode)
			return nil
		case err := <-errC:
			return err
		}
	})
	if err != nil {
		return "", 0, err
	}
	return d.logTail(ctx, id), code, nil
}

// prepareDirs creates the directories nginx writes under Dir.
func (d *Docker) prepareDirs() error {
	for _, sub := range []string{"logs", "temp"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return fmt.Errorf("nginx dir: %w", err)
		}
	}
	return nil
}

// inspect returns the nginx container; found is false when there is none.
// A container of another owner by that name is an error.
func (d *Docker) inspect(ctx context.Context) (c container.InspectResponse, found bool, err error) {
	err = d.call(ctx, "inspect", func(ctx context.Context) error {
		c, err = d.api.ContainerInspect(ctx, d.name)
		return err
	})
	if cerrdefs.IsNotFound(err) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if c.ContainerJSONBase == nil || c.Config == nil || c.State == nil {
		return c, false, fmt.Errorf("docker inspect %s: incomplete answer from the daemon", d.name)
	}
	if owner := c.Config.Labels[labelOwner]; owner != d.owner {
		return c, false, fmt.Errorf("container %s has owner %q: %w", d.name, owner, ErrNotOwned)
	}
	return c, true, nil
}

// sameImage reports whether an existing container runs the configured image
// on this directory; otherwise Start replaces it.
func (d *Docker) sameImage(c container.InspectResponse) bool {
	return c.Config.Image == d.image && slices.Contains(c.Config.Env, "ZDML_NGINX_DIR="+d.dir)
}

func (d *Docker) remove(ctx context.Context, id string) error {
	err := d.call(ctx, "remove", func(ctx context.Context) error {
		return d.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	})
	if cerrdefs.IsNotFound(err) || err != nil && strings.Contains(err.Error(), "already in progress") {
		return nil
	}
	return err
}

// logTail returns the last lines a container printed, for error messages.
func (d *Docker) logTail(ctx context.Context, id string) string {
	var buf bytes.Buffer
	_ = d.call(ctx, "logs", func(ctx context.Context) error {
		rc, err := d.api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = stdcopy.StdCopy(&buf, &buf, io.LimitReader(rc, 64<<10))
		return err
	})
	if buf.Len() == 0 {
		return "no output"
	}
	return strings.TrimSpace(buf.String())
}

func (d *Docker) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	return d.callFor(ctx, op, 0, fn)
}

// callFor runs one Docker API call under its own timeout plus extra, and
// retries a daemon that cannot be dialled (nothing was sent) a few times.
func (d *Docker) callFor(ctx context.Context, op string, extra time.Duration, fn func(ctx context.Context) error) error {
	p := dockercall.Policy{Timeout: d.callTimeout + extra, Tries: 3, Backoff: 200 * time.Millisecond,
		Host: d.api.DaemonHost(), Log: d.log}
	return p.Do(ctx, op+" "+d.name, fn)
}

func isRunning(c container.InspectResponse) bool {
	return c.State != nil && c.State.Running && !c.State.Restarting
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

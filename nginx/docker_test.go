package nginx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
	"github.com/zero-downtime-ml/zdml/spec"
)

// nginxImage builds the local nginx image (cached by content: usually a
// no-op) and returns its name.
func nginxImage(t testing.TB) string {
	t.Helper()
	dockertest.Images(t, "nginx")
	if img := os.Getenv("ZDML_NGINX_IMAGE"); img != "" {
		return img
	}
	return DefaultDockerImage
}

// newDockerProxy is newTestProxy with nginx in a container on the host's
// network.
func newDockerProxy(t testing.TB, blue, green string) (*Proxy, *Docker, Config) {
	t.Helper()
	c := dockertest.Client(t)
	owner := dockertest.Owner(t, c, labelOwner)
	d, err := NewDocker(t.TempDir(), WithDockerClient(c), WithDockerOwner(owner),
		WithDockerName(owner+"-nginx"), WithDockerImage(nginxImage(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNginx(t, d) })
	cfg := Config{PublicAddr: testenv.FreeAddr(t), AdminAddr: testenv.FreeAddr(t), Active: spec.Blue, Workers: 2,
		Upstreams: map[spec.Color]string{spec.Blue: blue}}
	if green != "" {
		cfg.Upstreams[spec.Green] = green
	}
	return NewProxy(d, WithCallTimeout(10*time.Second)), d, cfg
}

func addrOf(t testing.TB, color spec.Color) string {
	return backend(t, color, nil).Listener.Addr().String()
}

// TestDockerEnsureStartSwapVerify: the Proxy drives an nginx container
// exactly as a local one: start, swap by a HUP sent through the Docker API,
// verified by the admin hash and by the public route.
func TestDockerEnsureStartSwapVerify(t *testing.T) {
	ctx := context.Background()
	p, d, cfg := newDockerProxy(t, addrOf(t, spec.Blue), addrOf(t, spec.Green))
	if got, err := p.Ensure(ctx, cfg); err != nil || got != Started {
		t.Fatalf("Ensure(blue) = %v, %v; want started", got, err)
	}
	if err := p.VerifyRoute(ctx, spec.Blue, "v-blue"); err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(ctx)
	if err != nil || !st.Running || !strings.HasPrefix(st.ID, "container ") || st.PID <= 0 {
		t.Fatalf("Status = %+v, %v; want a running container with its master's host pid", st, err)
	}
	w1 := current(mustWorkers(t, d))
	cfg.Active = spec.Green
	if got, err := p.Ensure(ctx, cfg); err != nil || got != Reloaded {
		t.Fatalf("Ensure(green) = %v, %v; want reloaded", got, err)
	}
	if err := p.VerifyRoute(ctx, spec.Green, "v-green"); err != nil {
		t.Fatal(err)
	}
	w2 := current(mustWorkers(t, d))
	// A reconciler in a container cannot read the host's /proc and asks the
	// daemon instead: both views must agree.
	top, err := d.api.ContainerTop(ctx, d.name, []string{"-o", "pid,ppid,args"})
	if err != nil {
		t.Fatal(err)
	}
	fromTop, err := topWorkers(top, st.PID)
	if err != nil {
		t.Fatal(err)
	}
	got := current(fromTop)
	slices.Sort(got)
	slices.Sort(w2)
	if !slices.Equal(got, w2) {
		t.Errorf("workers from docker top %v, from /proc %v", got, w2)
	}
	if len(w2) != 2 || slices.ContainsFunc(w2, func(p int) bool { return slices.Contains(w1, p) }) {
		t.Errorf("workers %v -> %v: want two new workers after the HUP", w1, w2)
	}
	if st2, _ := d.Status(ctx); st2.PID != st.PID {
		t.Errorf("master changed %d -> %d: a reload must not restart nginx", st.PID, st2.PID)
	}
	if got, err := p.Ensure(ctx, cfg); err != nil || got != Unchanged {
		t.Errorf("Ensure(same) = %v, %v; want unchanged", got, err)
	}
}

func mustWorkers(t testing.TB, d *Docker) []Worker {
	t.Helper()
	ws, err := d.Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// TestDockerTestRejects: nginx -t through the runner reports nginx's own
// message both before the first start (a one-off container) and while
// nginx runs (exec), and a rejected config never reaches the running nginx.
func TestDockerTestRejects(t *testing.T) {
	ctx := context.Background()
	p, d, cfg := newDockerProxy(t, addrOf(t, spec.Blue), "")
	bad := filepath.Join(d.Dir(), "bad.conf")
	if err := os.WriteFile(bad, []byte("events {}\nhttp { server { listen 127.0.0.1:1; bogus_directive on; } }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, phase := range []string{"not running", "running"} {
		err := d.Test(ctx, "bad.conf")
		if err == nil || !strings.Contains(err.Error(), `unknown directive "bogus_directive"`) {
			t.Errorf("%s: Test(bad) = %v; want nginx's message", phase, err)
		}
		if phase == "not running" {
			if _, err := p.Ensure(ctx, cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := d.Test(ctx, ConfFile); err != nil {
		t.Errorf("Test(live config) = %v", err)
	}
	broken := cfg
	broken.Upstreams = map[spec.Color]string{spec.Blue: cfg.Upstreams[spec.Blue], spec.Green: "no-such-host.invalid:8000"}
	broken.Active = spec.Green
	if _, err := p.Ensure(ctx, broken); err == nil || !strings.Contains(err.Error(), "host not found in upstream") {
		t.Errorf("Ensure(unresolvable upstream) = %v; want rejected by nginx -t", err)
	}
	if err := p.VerifyRoute(ctx, spec.Blue, "v-blue"); err != nil {
		t.Errorf("old config no longer serving: %v", err)
	}
}

// TestDockerLifecycle: Reload before Start is ErrNotRunning; a second
// runner on the same container adopts it; Stop is graceful and idempotent,
// and removes the container the runner made.
func TestDockerLifecycle(t *testing.T) {
	ctx := context.Background()
	p, d, cfg := newDockerProxy(t, addrOf(t, spec.Blue), "")
	if err := d.Reload(ctx); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Reload before start = %v; want ErrNotRunning", err)
	}
	if _, err := p.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	st1, _ := d.Status(ctx)
	again, err := NewDocker(d.Dir(), WithDockerClient(d.api), WithDockerOwner(d.owner), WithDockerName(d.name), WithDockerImage(d.image))
	if err != nil {
		t.Fatal(err)
	}
	p2 := NewProxy(again)
	if got, err := p2.Ensure(ctx, cfg); err != nil || got != Unchanged {
		t.Fatalf("adopting Ensure = %v, %v; want unchanged", got, err)
	}
	if err := again.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st2, _ := again.Status(ctx); st2.PID != st1.PID {
		t.Errorf("master %d -> %d: adoption restarted nginx", st1.PID, st2.PID)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for i := range 2 {
		if err := again.Stop(sctx); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
	}
	if st, err := d.Status(ctx); err != nil || st.Running {
		t.Errorf("Status after Stop = %+v, %v", st, err)
	}
	if _, err := d.api.ContainerInspect(ctx, d.name); err == nil {
		t.Error("the container the runner made is still there after Stop")
	}
}

// TestDockerNotOwned: a container by the runner's name that another owner
// made is never signalled, stopped or removed.
func TestDockerNotOwned(t *testing.T) {
	ctx := context.Background()
	c := dockertest.Client(t)
	stranger := dockertest.Owner(t, c, labelOwner)
	_, d, cfg := newDockerProxy(t, addrOf(t, spec.Blue), "")
	other, err := NewDocker(d.Dir(), WithDockerClient(c), WithDockerOwner(stranger), WithDockerName(d.name), WithDockerImage(d.image))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNginx(t, other) }) // before d's own cleanup, which then finds nothing
	if _, err := NewProxy(other).Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{"Start": d.Start(ctx), "Reload": d.Reload(ctx), "Stop": d.Stop(ctx)} {
		if !errors.Is(err, ErrNotOwned) {
			t.Errorf("%s on a stranger's container = %v; want ErrNotOwned", name, err)
		}
	}
	if st, err := other.Status(ctx); err != nil || !st.Running {
		t.Errorf("the stranger's nginx = %+v, %v; want untouched and running", st, err)
	}
}

// TestDockerDaemonUnreachable: a daemon that is down gives a clear error
// after a few quick retries; one that accepts but never answers is cut off
// by the per-call timeout. Neither hangs.
func TestDockerDaemonUnreachable(t *testing.T) {
	for _, tc := range dockertest.DeadDaemons(t) {
		t.Run(tc.Name, func(t *testing.T) {
			d, err := NewDocker(t.TempDir(), WithDockerClient(tc.Client), WithDockerOwner("zdmltest-none"), WithDockerCallTimeout(300*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for name, err := range map[string]error{"Status": func() error { _, err := d.Status(ctx); return err }(),
				"Reload": d.Reload(ctx), "Start": d.Start(ctx)} {
				if !errors.Is(err, ErrDockerUnavailable) || !strings.Contains(err.Error(), tc.Want) {
					t.Errorf("%s = %v; want ErrDockerUnavailable saying %q", name, err, tc.Want)
				}
			}
			if ctx.Err() != nil {
				t.Error("calls did not return before the test's deadline")
			}
		})
	}
}

// TestTopWorkers parses `docker top` output as the daemon returns it.
func TestTopWorkers(t *testing.T) {
	top := container.TopResponse{
		Titles: []string{"PID", "PPID", "COMMAND"},
		Processes: [][]string{
			{"100", "90", "nginx: master process /usr/sbin/nginx -p /state/nginx/"},
			{"101", "100", "nginx: worker process"},
			{"102", "100", "nginx: worker process is shutting down"},
			{"103", "100", "nginx: cache manager process"},
			{"104", "1", "nginx: worker process"},
		},
	}
	got, err := topWorkers(top, 100)
	want := []Worker{{PID: 101}, {PID: 102, Retiring: true}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("topWorkers = %v, %v; want %v", got, err, want)
	}
}

// TestTopWorkersUnreadable: a listing topWorkers cannot read is an error,
// never an empty list, which a drain or reload check would take for "no old
// workers left" while old workers still route to the old color.
func TestTopWorkersUnreadable(t *testing.T) {
	master := []string{"100", "90", "nginx: master process"}
	worker := []string{"101", "100", "nginx: worker process is shutting down"}
	tests := []struct {
		name string
		top  container.TopResponse
		want string
	}{
		{"other columns", container.TopResponse{Titles: []string{"UID", "PID", "C", "STIME", "CMD"},
			Processes: [][]string{{"root", "100", "0", "10:00", "nginx: master process"}}}, "want PID, PPID and COMMAND"},
		{"no titles", container.TopResponse{Processes: [][]string{master, worker}}, "want PID, PPID and COMMAND"},
		{"short row", container.TopResponse{Titles: []string{"PID", "PPID", "COMMAND"},
			Processes: [][]string{master, {"101", "100"}}}, "want 3 columns"},
		{"pid not a number", container.TopResponse{Titles: []string{"PID", "PPID", "COMMAND"},
			Processes: [][]string{master, {"x101", "100", "nginx: worker process"}}}, "not a number"},
		{"master missing", container.TopResponse{Titles: []string{"PID", "PPID", "COMMAND"},
			Processes: [][]string{worker}}, "the master (pid 100) is not in the listing"},
		{"empty listing", container.TopResponse{Titles: []string{"PID", "PPID", "COMMAND"}}, "the master (pid 100) is not in the listing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := topWorkers(tt.top, 100)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("topWorkers = %v, %v; want an error saying %q", got, err, tt.want)
			}
		})
	}
}

// TestDockerCanarySplit: the split and maintenance run the same in the
// nginx image (core modules only: mirror and split_clients): weighted
// shares, a sticky body "user", pins, and the admin report.
func TestDockerCanarySplit(t *testing.T) {
	ctx := context.Background()
	blue, green := countedBackend(t, spec.Blue, nil), countedBackend(t, spec.Green, nil)
	p, _, cfg := newDockerProxy(t, blue.srv.Listener.Addr().String(), green.srv.Listener.Addr().String())
	cfg.Canary = &Canary{Color: spec.Green, Weight: 50}
	if _, err := p.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	got := share(t, cfg.PublicAddr, spec.Green, 2000, chatCall(""))
	t.Logf("docker, weight 50%%: canary share %.2f%% of 2000 requests", 100*got)
	if got < 0.45 || got > 0.55 {
		t.Errorf("canary share %.2f%% at weight 50%%", 100*got)
	}
	client := keepAliveClient(t, 1)
	seen := map[spec.Color]bool{}
	for i := range 20 {
		u := fmt.Sprint("docker_", i)
		want := mustColor(t, client, cfg.PublicAddr, idCall("header", u))
		for range 3 {
			if c := mustColor(t, client, cfg.PublicAddr, idCall("body", u)); c != want {
				t.Fatalf("user %s: body %s, header %s", u, c, want)
			}
		}
		seen[want] = true
	}
	if !seen[spec.Blue] || !seen[spec.Green] {
		t.Errorf("20 users at 50%% all on one color: %v", seen)
	}
	if err := p.VerifyCanary(ctx, spec.Green, "v-green"); err != nil {
		t.Error(err)
	}
	if err := p.VerifyRoute(ctx, spec.Blue, "v-blue"); err != nil {
		t.Error(err)
	}
	cfg.Maintenance = &Maintenance{Message: `docker "maintenance" $1`}
	if _, err := p.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	checkMaintenance(t, cfg.PublicAddr, chatCall("u"), `docker "maintenance" $1`, "30")
	obs, err := p.Observe(ctx)
	if err != nil || obs.Canary == nil || *obs.Canary != *cfg.Canary || obs.Maintenance == nil {
		t.Errorf("Observe = %+v, %v", obs, err)
	}
}

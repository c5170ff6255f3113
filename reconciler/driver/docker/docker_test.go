package docker

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestDockerStartInspectStop: a color runs as a labelled container with the
// spec's limits, the models mounted read-only, a read-only root, at low CPU
// weight without restarts while it warms; SetPriority raises its weight in
// the kernel's cgroup and gives it a restart policy; Stop is a graceful
// SIGTERM (exit 0) and removes it.
func TestDockerStartInspectStop(t *testing.T) {
	ctx := context.Background()
	c := dockertest.Client(t)
	d, logs := newTestDocker(t, c)
	inst := tinyInstance(t, spec.Blue, "v1")
	st, err := d.Start(ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.Addr != inst.Addr || st.ModelVersion != "v1" || st.ConfigHash != "cfg-v1" || st.Priority != driver.PriorityLow {
		t.Fatalf("Start = %+v", st)
	}
	awaitReady(t, inst.Addr, 60*time.Second)
	ci, err := c.ContainerInspect(ctx, d.ContainerName(spec.Blue))
	if err != nil {
		t.Fatal(err)
	}
	h := ci.HostConfig
	checks := []struct {
		name      string
		got, want any
	}{
		{"memory", h.Memory, int64(256 << 20)},
		{"memory+swap", h.MemorySwap, int64(256 << 20)},
		{"cpus", h.NanoCPUs, int64(1e9)},
		{"cpu shares", h.CPUShares, int64(LowCPUShares)},
		{"restart policy", h.RestartPolicy.Name, container.RestartPolicyDisabled},
		{"read-only root", h.ReadonlyRootfs, true},
		{"owner label", ci.Config.Labels[LabelOwner], d.Owner()},
		{"color label", ci.Config.Labels[LabelColor], "blue"},
		{"version label", ci.Config.Labels[LabelVersion], "v1"},
		{"kernel cpu.shares", cgroupFile(t, "cpu", ci.ID, "cpu.shares"), strconv.Itoa(LowCPUShares)},
		{"kernel memory limit", cgroupFile(t, "memory", ci.ID, "memory.limit_in_bytes"), strconv.Itoa(256 << 20)},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v; want %v", ck.name, ck.got, ck.want)
		}
	}
	models := slices.IndexFunc(ci.Mounts, func(m container.MountPoint) bool { return m.Destination == ContainerModelsDir })
	if models < 0 || ci.Mounts[models].RW || ci.Mounts[models].Type != mount.TypeBind || ci.Mounts[models].Source != testenv.ModelsDir(t) {
		t.Errorf("models mount = %+v; want %s bound read-only", ci.Mounts, testenv.ModelsDir(t))
	}

	if err := d.SetPriority(ctx, spec.Blue, driver.PriorityNormal); err != nil {
		t.Fatal(err)
	}
	if got := cgroupFile(t, "cpu", ci.ID, "cpu.shares"); got != strconv.Itoa(NormalCPUShares) {
		t.Errorf("cpu.shares after SetPriority(normal) = %s; want %d", got, NormalCPUShares)
	}
	if st, _ := d.Inspect(ctx, spec.Blue); st.Priority != driver.PriorityNormal || st.InstanceID == "" {
		t.Errorf("Inspect after SetPriority = %+v; want normal priority and the server's instance id", st)
	}
	if ci, _ := c.ContainerInspect(ctx, ci.ID); ci.HostConfig.RestartPolicy.Name != container.RestartPolicyUnlessStopped {
		t.Errorf("restart policy of a serving color = %q; want unless-stopped", ci.HostConfig.RestartPolicy.Name)
	}

	if err := d.Stop(ctx, spec.Blue, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	stopped := logLines(logs, "container stopped")
	if len(stopped) != 1 || stopped[0]["exit_code"] != float64(0) {
		t.Errorf("stop log = %v; want one graceful stop with exit code 0", stopped)
	}
	if _, err := c.ContainerInspect(ctx, ci.ID); !client.IsErrNotFound(err) {
		t.Errorf("container still there after Stop: %v", err)
	}
	if st, err := d.Inspect(ctx, spec.Blue); err != nil || st.Running {
		t.Errorf("Inspect after Stop = %+v, %v", st, err)
	}
	if err := d.Stop(ctx, spec.Blue, time.Second); err != nil {
		t.Errorf("second Stop = %v; want nil", err)
	}
	if _, err := c.NetworkInspect(ctx, d.network, network.InspectOptions{}); !client.IsErrNotFound(err) {
		t.Errorf("network %s still there after the last color stopped: %v", d.network, err)
	}
}

// TestDockerAdoptAndReplace: a second driver with the same owner (a
// restarted reconciler) recovers and adopts the running container without
// restarting it; a different config replaces it.
func TestDockerAdoptAndReplace(t *testing.T) {
	ctx := context.Background()
	c := dockertest.Client(t)
	d, _ := newTestDocker(t, c)
	inst := tinyInstance(t, spec.Green, "v1")
	first, err := d.Start(ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	again, err := New(WithClient(c), WithOwner(d.owner), WithPrefix(d.prefix),
		WithNetwork(d.network), WithModelsDir(d.modelsDir))
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.Recover(ctx)
	if err != nil || len(got) != 1 || got[0].ID != first.ID || got[0].Color != spec.Green || !got[0].Running {
		t.Fatalf("Recover = %+v, %v; want the running green %s", got, err, short(first.ID))
	}
	adopted, err := again.Start(ctx, inst)
	if err != nil || adopted.ID != first.ID || !adopted.StartedAt.Equal(first.StartedAt) {
		t.Fatalf("Start(same) = %+v, %v; want container %s adopted, not restarted", adopted, err, short(first.ID))
	}
	v2 := inst
	v2.ModelVersion, v2.ConfigHash = "v2", "cfg-v2"
	replaced, err := again.Start(ctx, v2)
	if err != nil || replaced.ID == first.ID || replaced.ModelVersion != "v2" {
		t.Fatalf("Start(v2) = %+v, %v; want a new container", replaced, err)
	}
	if _, err := c.ContainerInspect(ctx, first.ID); !client.IsErrNotFound(err) {
		t.Errorf("the replaced container is still there: %v", err)
	}
}

// TestDockerRecoverRemovesOrphans: Recover removes this owner's dead color
// and stray containers, adopts the live one, and never touches a container
// of another owner, even one carrying zdml labels.
func TestDockerRecoverRemovesOrphans(t *testing.T) {
	ctx := context.Background()
	c := dockertest.Client(t)
	d, _ := newTestDocker(t, c)
	live, err := d.Start(ctx, tinyInstance(t, spec.Blue, "v1"))
	if err != nil {
		t.Fatal(err)
	}
	dead, err := d.Start(ctx, tinyInstance(t, spec.Green, "v1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ContainerKill(ctx, dead.ID, "KILL"); err != nil { // a crash the daemon does not restart
		t.Fatal(err)
	}
	stray := dockertest.LabelledContainer(t, c, d.prefix+"-stray", map[string]string{LabelOwner: d.owner, LabelRole: "modelserver", LabelColor: "blue"})
	other := dockertest.Owner(t, c, LabelOwner)
	stranger := dockertest.LabelledContainer(t, c, other+"-blue", map[string]string{LabelOwner: other, LabelRole: "modelserver", LabelColor: "blue"})
	got, err := d.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != live.ID {
		t.Errorf("Recover adopted %+v; want only the live blue %s", got, short(live.ID))
	}
	for _, id := range []string{dead.ID, stray} {
		if _, err := c.ContainerInspect(ctx, id); !client.IsErrNotFound(err) {
			t.Errorf("orphan %s still there: %v", short(id), err)
		}
	}
	if _, err := c.ContainerInspect(ctx, stranger); err != nil {
		t.Errorf("another owner's container was removed: %v", err)
	}
}

// TestDockerNotOwned: a container by a color's name that another owner
// made is neither replaced, stopped nor inspected as ours.
func TestDockerNotOwned(t *testing.T) {
	ctx := context.Background()
	c := dockertest.Client(t)
	d, _ := newTestDocker(t, c)
	other := dockertest.Owner(t, c, LabelOwner)
	id := dockertest.LabelledContainer(t, c, d.ContainerName(spec.Blue), map[string]string{LabelOwner: other})
	_, startErr := d.Start(ctx, tinyInstance(t, spec.Blue, "v1"))
	_, inspectErr := d.Inspect(ctx, spec.Blue)
	for name, err := range map[string]error{
		"Start": startErr, "Stop": d.Stop(ctx, spec.Blue, time.Second),
		"SetPriority": d.SetPriority(ctx, spec.Blue, driver.PriorityNormal), "Inspect": inspectErr,
	} {
		if !errors.Is(err, ErrNotOwned) {
			t.Errorf("%s = %v; want ErrNotOwned", name, err)
		}
	}
	if _, err := c.ContainerInspect(ctx, id); err != nil {
		t.Errorf("the other owner's container is gone: %v", err)
	}
}

// TestDockerStartFailures: a missing image (nothing is ever pulled) and a
// model server that exits while loading both leave a clear reason, and a
// failed start leaves no container behind.
func TestDockerStartFailures(t *testing.T) {
	ctx := context.Background()
	c := dockertest.Client(t)
	d, _ := newTestDocker(t, c)

	missing := tinyInstance(t, spec.Blue, "v1")
	missing.Image = "zdml/no-such-image:" + d.owner
	if _, err := d.Start(ctx, missing); !errors.Is(err, ErrImageMissing) || !strings.Contains(err.Error(), "make images") {
		t.Errorf("Start(missing image) = %v; want ErrImageMissing telling how to build", err)
	}
	if st, err := d.Inspect(ctx, spec.Blue); err != nil || st.ID != "" {
		t.Errorf("after a failed start Inspect = %+v, %v; want no container", st, err)
	}

	// A color that dies while it loads: its memory limit is far too small
	// for the demo model's context, and the kernel's OOM killer ends it.
	starved := tinyInstance(t, spec.Green, "v1")
	starved.ModelPath, starved.Memory = testenv.Model(t, "demo-v1.gguf"), 24<<20
	if _, err := d.Start(ctx, starved); err != nil {
		t.Fatal(err)
	}
	var st driver.Status
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var err error
		if st, err = d.Inspect(ctx, spec.Green); err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			break
		}
	}
	if st.Running || st.ID == "" || !strings.Contains(st.ExitErr, "OOM killer") || !strings.Contains(st.ExitErr, "last log:") {
		t.Errorf("a standby that dies while loading: %+v; want it exited, not restarted, and why, with its log", st)
	}
	t.Logf("exit reason: %s", st.ExitErr)
}

// TestDockerDaemonUnreachable: a daemon that is down gives a clear error
// after quick retries; one that accepts but never answers is cut off by
// the per-call timeout. Neither hangs.
func TestDockerDaemonUnreachable(t *testing.T) {
	for _, tc := range dockertest.DeadDaemons(t) {
		t.Run(tc.Name, func(t *testing.T) {
			d, err := New(WithClient(tc.Client), WithOwner("zdmltest-none"), WithCallTimeout(300*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			inst := driver.Instance{Color: spec.Blue, Addr: "127.0.0.1:1", ModelPath: "/models/x.gguf", Image: "x"}
			_, startErr := d.Start(ctx, inst)
			_, inspectErr := d.Inspect(ctx, spec.Blue)
			_, recoverErr := d.Recover(ctx)
			for name, err := range map[string]error{"Start": startErr, "Inspect": inspectErr, "Recover": recoverErr,
				"Stop": d.Stop(ctx, spec.Blue, time.Second), "SetPriority": d.SetPriority(ctx, spec.Blue, driver.PriorityNormal)} {
				if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.Want) {
					t.Errorf("%s = %v; want ErrUnavailable saying %q", name, err, tc.Want)
				}
			}
			if ctx.Err() != nil {
				t.Error("the calls did not return before the test's deadline")
			}
		})
	}
}

package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/docker"
	"github.com/zero-downtime-ml/zdml/spec"
)

// The tests below are the process-runtime end-to-end tests again with
// `runtime: docker`: the same desired.yaml (plus the image), the same
// pipeline and gates, the colors as containers of the model-server image
// and nginx in a container on the host's network, reloaded by a HUP sent
// through the Docker API. They set the driver's environment (owner,
// container names, network) per test, so they do not run in parallel.

// dockerEnv is an env whose colors and nginx run in containers.
type dockerEnv struct {
	*env
	c     *client.Client
	owner string
	image string
}

func newDockerEnv(t testing.TB) *dockerEnv {
	t.Helper()
	c := dockertest.Client(t)
	image, nginxImage := dockertest.RepoImages(t)
	owner := dockertest.Owner(t, c, docker.LabelOwner) // its cleanup runs last, after the env's
	t.Setenv("ZDML_DOCKER_OWNER", owner)
	t.Setenv("ZDML_DOCKER_PREFIX", owner)
	t.Setenv("ZDML_DOCKER_NETWORK", owner)
	e := newEnv(t)
	runner, err := nginx.NewDocker(filepath.Join(e.stateDir, "nginx"), nginx.WithDockerClient(c),
		nginx.WithDockerOwner(owner), nginx.WithDockerName(owner+"-nginx"), nginx.WithDockerImage(nginxImage))
	if err != nil {
		t.Fatal(err)
	}
	e.runner = runner
	return &dockerEnv{env: e, c: c, owner: owner, image: image}
}

// spec is desired.yaml for version on runtime docker with image.
func (e *dockerEnv) spec(version, image string) string {
	return desiredSpec{Version: version, ReadyTimeout: "120s", Extra: "  runtime: docker\n  image: " + image + "\n"}.yaml()
}

// colors lists this test's model-server containers, running or not.
func (e *dockerEnv) colors() []container.Summary {
	e.t.Helper()
	list, err := e.c.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", docker.LabelOwner+"="+e.owner), filters.Arg("label", docker.LabelRole+"=modelserver"))})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// only checks that exactly one color container exists, running the color
// and version given, and returns its id.
func (e *dockerEnv) only(color spec.Color, version string) string {
	e.t.Helper()
	list := e.colors()
	if len(list) != 1 || list[0].Labels[docker.LabelColor] != string(color) || list[0].Labels[docker.LabelVersion] != version || list[0].State != "running" {
		var got []string
		for _, c := range list {
			got = append(got, c.Names[0]+" "+c.Labels[docker.LabelVersion]+" "+c.State)
		}
		e.t.Fatalf("color containers %v; want only %s %s running", got, color, version)
	}
	return list[0].ID
}

// serveBlueV1 commits v1 on runtime docker, starts the reconciler, waits
// until v1 serves and returns the id of blue's container, the only one.
func (e *dockerEnv) serveBlueV1() string {
	e.t.Helper()
	e.commit(e.spec("v1", e.image), "v1")
	e.start()
	e.waitSynced("v1", 3*time.Minute)
	return e.only(spec.Blue, "v1")
}

func (e *dockerEnv) kill(color spec.Color) {
	if err := e.c.ContainerKill(context.Background(), e.owner+"-"+string(color), "KILL"); err != nil {
		e.t.Errorf("kill %s: %v", color, err)
	}
}

// TestDockerDeployUnderLoad: a commit deploys v2 as containers while
// clients chat through the nginx container: zero failed requests, the
// version switched, every step in history and events, the old container
// gone.
func TestDockerDeployUnderLoad(t *testing.T) {
	e := newDockerEnv(t)
	e.serveBlueV1()
	history := chatBeforeSwap(t, e.public)
	loop := startClients(t, e.public, 4)
	loop.waitOK(t, 20)
	c2 := e.commit(e.spec("v2", e.image), "v2")
	st := e.waitSynced("v2", 3*time.Minute)
	loop.waitOK(t, 20)
	loop.check(t)
	history(spec.Green, "v2")
	if st.ActiveColor != spec.Green || st.DeployedCommit != c2 {
		t.Errorf("after v2: active %s commit %s; want green %s", st.ActiveColor, st.DeployedCommit, c2)
	}
	if color, version := publicVersion(t, e.public); color != "green" || version != "v2" {
		t.Errorf("public route answers %s %s; want green v2", color, version)
	}
	if loop.versions["v1"] == 0 || loop.versions["v2"] == 0 {
		t.Errorf("clients saw versions %v; want both", loop.versions)
	}
	recs := e.waitDeploys(2, 10*time.Second)
	last := recs[len(recs)-1]
	var names []string
	for _, s := range last.Steps {
		names = append(names, s.Name)
	}
	if last.Outcome != OutcomeSucceeded || last.FromVersion != "v1" || last.ToVersion != "v2" || !slices.Equal(names, allSteps) {
		t.Errorf("history: %s %s->%s steps %v", last.Outcome, last.FromVersion, last.ToVersion, names)
	}
	e.only(spec.Green, "v2")
	if ng, _ := e.runner.Status(context.Background()); !strings.HasPrefix(ng.ID, "container ") {
		t.Errorf("nginx is %q; want the container", ng.ID)
	}
}

// TestDockerRollbacks: a v2 whose image does not exist, and a v2 whose
// container is killed during warm-up, both roll back with v1 serving and
// no client request failing.
func TestDockerRollbacks(t *testing.T) {
	e := newDockerEnv(t)
	blue := e.serveBlueV1()
	for i, tc := range []struct {
		name, desired, reason string
		arm                   func()
	}{
		{name: "missing image", desired: e.spec("v2", "zdml/modelserver:no-such-tag"), reason: "make images"},
		{name: "killed during warm-up", desired: e.spec("v3", e.image), reason: "warmup", arm: func() {
			e.r.events.setSink(func(ev Event) {
				if ev.Step == StepWarmup && ev.Phase == PhaseStart {
					e.kill(spec.Green)
				}
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.arm != nil {
				tc.arm()
				defer e.r.events.setSink(nil)
			}
			loop := startClients(t, e.public, 2)
			e.commit(tc.desired, tc.name)
			recs := e.waitDeploys(i+2, 3*time.Minute)
			loop.waitOK(t, 10)
			loop.check(t)
			last := recs[len(recs)-1]
			if last.Outcome == OutcomeSucceeded || !strings.Contains(last.Reason+last.FailedStep, tc.reason) {
				t.Errorf("history: %s at %s: %s; want a rollback mentioning %q", last.Outcome, last.FailedStep, last.Reason, tc.reason)
			}
			if color, version := publicVersion(t, e.public); color != "blue" || version != "v1" {
				t.Errorf("public route answers %s %s; want blue v1", color, version)
			}
			if id := e.only(spec.Blue, "v1"); id != blue {
				t.Errorf("blue container %s -> %s; want v1 untouched", blue, id)
			}
		})
	}
}

// TestDockerSelfHealKilledActive: the active container is killed (docker
// kill: its restart policy does not apply); the reconciler notices,
// replaces it through the gates and serves again.
func TestDockerSelfHealKilledActive(t *testing.T) {
	e := newDockerEnv(t)
	before := e.serveBlueV1()
	killed := time.Now()
	e.kill(spec.Blue)
	e.healed(HealActiveDown, 2*time.Minute)
	e.waitSynced("v1", time.Minute)
	t.Logf("active container killed: serving again after %s", time.Since(killed).Round(time.Millisecond))
	if after := e.only(spec.Blue, "v1"); after == before {
		t.Error("the killed container is still the active one")
	}
	loop := startClients(t, e.public, 2)
	loop.waitOK(t, 20)
	loop.check(t)
}

// TestDockerRestartMidDeploy: the reconciler stops while the v2 standby
// warms up (as a killed reconciler would) and leaves an orphan behind; the
// next one removes the orphan, adopts the standby container by its labels
// (same container, not restarted) and finishes the deploy, clients
// chatting throughout.
func TestDockerRestartMidDeploy(t *testing.T) {
	e := newDockerEnv(t)
	e.serveBlueV1()
	warming := make(chan struct{}, 1)
	e.r.events.setSink(func(ev Event) {
		if ev.Step == StepWarmup && ev.Phase == PhaseStart {
			warming <- struct{}{}
		}
	})
	loop := startClients(t, e.public, 2)
	e.commit(e.spec("v2", e.image), "v2")
	select {
	case <-warming:
	case <-time.After(3 * time.Minute):
		t.Fatal("the v2 deploy never reached warm-up")
	}
	e.stop()
	standby := e.colors()
	orphan := dockertest.LabelledContainer(t, e.c, e.owner+"-leftover", map[string]string{docker.LabelOwner: e.owner, docker.LabelRole: "modelserver", docker.LabelColor: "green"})
	e.start()
	e.waitSynced("v2", 3*time.Minute)
	loop.waitOK(t, 10)
	loop.check(t)
	green := e.only(spec.Green, "v2")
	if i := slices.IndexFunc(standby, func(c container.Summary) bool { return c.ID == green }); i < 0 {
		t.Errorf("green %s is a new container; want the standby adopted", green)
	}
	if _, err := e.c.ContainerInspect(context.Background(), orphan); !client.IsErrNotFound(err) {
		t.Errorf("orphan still there: %v", err)
	}
	recs, _ := ReadHistory(e.stateDir, 0)
	if last := recs[len(recs)-1]; last.Outcome != OutcomeSucceeded || last.ToVersion != "v2" {
		t.Errorf("history: %+v; want the resumed deploy succeeded", last)
	}

	// state.json lost: the next reconciler finds green on the Docker
	// runtime by its labels (state.json no longer says docker) and adopts
	// it; it starts nothing.
	e.stop()
	if err := os.Remove(filepath.Join(e.stateDir, StateFile)); err != nil {
		t.Fatal(err)
	}
	loop = startClients(t, e.public, 2)
	e.start()
	e.waitSynced("v2", time.Minute)
	e.waitPasses(5)
	loop.check(t)
	if id := e.only(spec.Green, "v2"); id != green {
		t.Errorf("green %s -> %s after state.json was lost; want it adopted", green, id)
	}
	if after, _ := ReadHistory(e.stateDir, 0); len(after) != len(recs) {
		t.Errorf("%d deploys after the restart without state.json; want %d (nothing deployed)", len(after), len(recs))
	}
	if st, _ := LoadState(e.stateDir); runtimeOf(st.Colors[spec.Green]) != spec.RuntimeDocker || st.ActiveColor != spec.Green {
		t.Errorf("state.json: active %s, green %+v; want green active on docker", st.ActiveColor, st.Colors[spec.Green])
	}
}

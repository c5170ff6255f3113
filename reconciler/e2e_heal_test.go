package reconciler

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/spec"
)

// healed waits for a self_heal end event whose message names reason.
func (e *env) healed(reason string, timeout time.Duration) {
	e.t.Helper()
	e.waitFor("self-heal "+reason, timeout, func() bool {
		for _, ev := range e.events() {
			if ev.Step == StepSelfHeal && ev.Phase == PhaseEnd && strings.HasPrefix(ev.Message, reason) {
				return true
			}
		}
		return false
	})
}

// TestSelfHealNginxConfigEdited edits nginx.conf by hand (a header added,
// the hash line kept) and reloads nginx: the reconciler notices, restores
// its config and reloads, with clients chatting throughout and no failure.
func TestSelfHealNginxConfigEdited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	loop := startClients(t, e.public, 2)
	conf := filepath.Join(e.stateDir, "nginx", nginx.ConfFile)
	orig, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(orig, []byte("location = /healthz"), []byte("add_header X-Hand-Edit yes always;\n        location = /healthz"), 1)
	if bytes.Equal(edited, orig) {
		t.Fatal("edit did not apply")
	}
	if err := os.WriteFile(conf, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := e.runner.Status(context.Background())
	if err != nil || !st.Running {
		t.Fatalf("nginx status %+v %v", st, err)
	}
	if err := syscall.Kill(st.PID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	e.healed(HealNginxConfig, 30*time.Second)
	loop.waitOK(t, 10)
	loop.check(t)
	now, _ := os.ReadFile(conf)
	if !bytes.Equal(now, orig) {
		t.Error("nginx.conf was not restored")
	}
	resp, err := http.Get("http://" + e.public + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("X-Hand-Edit"); h != "" {
		t.Errorf("the running nginx still serves the hand edit (X-Hand-Edit: %s)", h)
	}
}

// TestSelfHealNginxStopped stops nginx behind the reconciler's back: it
// is started again with the active color.
func TestSelfHealNginxStopped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.runner.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	e.healed("nginx_", 30*time.Second) // nginx_down, or nginx_config if seen mid-shutdown
	if color, version := publicVersion(t, e.public); color != "blue" || version != "v1" {
		t.Errorf("public route answers %s %s, want blue v1", color, version)
	}
}

// TestSelfHealNginxMasterKilled SIGKILLs nginx's master, as the OOM
// killer would: its workers live on, holding the public port, and the
// reconciler must clear them to start nginx again with the active color.
func TestSelfHealNginxMasterKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	st, err := e.runner.Status(context.Background())
	if err != nil || !st.Running {
		t.Fatalf("nginx status %+v, %v", st, err)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.healed("nginx_down", 30*time.Second)
	if color, version := publicVersion(t, e.public); color != "blue" || version != "v1" {
		t.Errorf("public route answers %s %s, want blue v1", color, version)
	}
	st2, err := e.runner.Status(context.Background())
	if err != nil || !st2.Running || st2.PID == st.PID {
		t.Errorf("nginx after the heal %+v, %v; want a new master", st2, err)
	}
}

// TestSelfHealActiveKilled SIGKILLs the active color: nothing serves
// until the reconciler restarts it (gated: ready, warm-up), records a
// self_heal and serves again. Requests in flight at the kill fail; that
// count is logged, and requests after the heal succeed.
func TestSelfHealActiveKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	loop := startClients(t, e.public, 2)
	loop.waitOK(t, 10)
	killed := time.Now()
	killColor(t, e, spec.Blue)
	e.healed(HealActiveDown, time.Minute)
	st := e.waitSynced("v1", time.Minute)
	loop.stop()
	t.Logf("active killed: service back after %s; %d of %d requests failed meanwhile",
		time.Since(killed).Round(time.Millisecond), loop.failed.Load(), loop.failed.Load()+loop.ok.Load())
	after := startClients(t, e.public, 2)
	after.waitOK(t, 20)
	after.check(t)
	recs, _ := ReadHistory(e.stateDir, 0)
	if last := recs[len(recs)-1]; last.Kind != KindSelfHeal || last.Outcome != OutcomeSucceeded {
		t.Errorf("history: %+v, want a succeeded self_heal", last)
	}
	if st.ActiveColor != spec.Blue {
		t.Errorf("active %s, want blue restarted in place", st.ActiveColor)
	}
}

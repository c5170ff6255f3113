package nginx

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestAdoptRunningNginx: a new Proxy on the same directory (a restarted
// reconciler) finds the running nginx through its pid file and config
// header, reports what it serves, and drives it without restarting it.
func TestAdoptRunningNginx(t *testing.T) {
	ctx := context.Background()
	_, local1, cfg := startedProxy(t, backend(t, spec.Blue, nil), backend(t, spec.Green, nil))
	st1, _ := local1.Status(ctx)
	assertAdopts(t, local1.Dir(), st1.PID, cfg)
}

// assertAdopts checks that a fresh Local and Proxy on dir adopt the nginx
// master pid serving cfg (blue active), swap it to green and stop it.
func assertAdopts(t *testing.T, dir string, pid int, cfg Config) {
	t.Helper()
	ctx := context.Background()
	local2, err := NewLocal(dir, WithBinary(testenv.LookPath(t, "nginx", "nginx")))
	if err != nil {
		t.Fatal(err)
	}
	p2 := NewProxy(local2)
	_, hash, _ := Render(cfg)
	obs, err := p2.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !obs.Running || obs.PID != pid || obs.Hash != hash || obs.Active != spec.Blue || obs.Admin != cfg.AdminAddr {
		t.Fatalf("Observe = %+v; want running pid %d, hash %s, blue, admin %s", obs, pid, hash, cfg.AdminAddr)
	}
	if c, err := p2.Active(ctx); err != nil || c != spec.Blue {
		t.Fatalf("Active = %v, %v", c, err)
	}
	if err := p2.VerifyRoute(ctx, spec.Blue, "v-blue"); err != nil {
		t.Fatal(err)
	}
	if got, err := p2.Ensure(ctx, cfg); err != nil || got != Unchanged {
		t.Fatalf("Ensure(same) = %v, %v; want unchanged", got, err)
	}
	cfg.Active = spec.Green
	if got, err := p2.Ensure(ctx, cfg); err != nil || got != Reloaded {
		t.Fatalf("Ensure(green) = %v, %v; want reloaded", got, err)
	}
	if err := p2.VerifyRoute(ctx, spec.Green, "v-green"); err != nil {
		t.Fatal(err)
	}
	if st, _ := local2.Status(ctx); st.PID != pid {
		t.Errorf("master changed from %d to %d: adopted nginx was restarted", pid, st.PID)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p2.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := local2.Status(ctx); st.Running || procfs.Alive(pid) {
		t.Errorf("nginx %d still running after Stop", pid)
	}
}

// helperEnv makes the test binary act as a short-lived zdml that starts
// nginx and is then killed (see starterMain).
const helperEnv = "ZDML_NGINX_TEST_HELPER"

type helperArgs struct {
	Dir string
	Cfg Config
}

// TestNginxOutlivesItsStarter: kill -9 the process group of the process
// that started nginx (a crashed or interrupted reconciler); nginx keeps
// serving and the next Proxy adopts it.
func TestNginxOutlivesItsStarter(t *testing.T) {
	_, local, cfg := newTestProxy(t, backend(t, spec.Blue, nil), backend(t, spec.Green, nil))
	args, _ := json.Marshal(helperArgs{Dir: local.Dir(), Cfg: cfg})
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+string(args))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		t.Fatalf("helper: %q, %v", line, err)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	st, err := local.Status(context.Background())
	if err != nil || !st.Running {
		t.Fatalf("nginx died with its starter: %+v, %v", st, err)
	}
	assertAdopts(t, local.Dir(), st.PID, cfg)
}

// starterMain is the whole life of the starter process of
// TestNginxOutlivesItsStarter (see TestMain): ensure nginx, say so, wait to
// be killed.
func starterMain(raw string) int {
	var a helperArgs
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	local, err := NewLocal(a.Dir)
	if err == nil {
		_, err = NewProxy(local).Ensure(context.Background(), a.Cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		return 1
	}
	os.Stdout.WriteString("ready\n")
	time.Sleep(time.Minute) // until killed
	return 0
}

// TestRestartAfterMasterKilled: a master killed with SIGKILL (by an
// operator or the OOM killer) leaves its workers running, still holding
// the listening sockets and serving the old config. Ensure, as self-heal
// calls it, must remove them and start a fresh nginx that serves.
func TestRestartAfterMasterKilled(t *testing.T) {
	ctx := context.Background()
	p, local, cfg := startedProxy(t, backend(t, spec.Blue, nil), backend(t, spec.Green, nil))
	st, err := local.Status(ctx)
	if err != nil || !st.Running {
		t.Fatalf("status %+v, %v", st, err)
	}
	old := currentWorkers(t, local)
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for procfs.Alive(st.PID) {
		time.Sleep(10 * time.Millisecond)
	}
	orphans := 0
	for _, w := range old {
		if procfs.Alive(w) {
			orphans++
		}
	}
	t.Logf("master %d killed; %d of its %d workers still run", st.PID, orphans, len(old))
	if _, err := p.Ensure(ctx, cfg); err != nil {
		t.Fatalf("Ensure after the master was killed: %v", err)
	}
	st2, err := local.Status(ctx)
	if err != nil || !st2.Running || st2.PID == st.PID {
		t.Fatalf("status after Ensure %+v, %v; want a new master", st2, err)
	}
	for _, w := range old {
		if procfs.Alive(w) {
			t.Errorf("orphaned worker %d of the killed master still runs", w)
		}
	}
	if err := p.VerifyRoute(ctx, spec.Blue, "v-blue"); err != nil {
		t.Fatal(err)
	}
}

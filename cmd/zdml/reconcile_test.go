package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/reconciler"
)

// These tests run the real bin/zdml as a user would: a daemon on a git
// repository, killed with SIGKILL and restarted, and the CLI beside it.

type world struct {
	t        *testing.T
	dir      string
	repo     string
	state    string
	public   string
	admin    string
	env      []string
	zdml     string
	daemon   *exec.Cmd
	daemonIO *bytes.Buffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	testenv.LookPath(t, "nginx", "nginx")
	dir := t.TempDir()
	w := &world{t: t, dir: dir, repo: filepath.Join(dir, "repo"), state: filepath.Join(dir, "state"), public: testenv.FreeAddr(t),
		admin: testenv.FreeAddr(t), zdml: testenv.Binary(t, "zdml")}
	w.env = append(os.Environ(),
		"ZDML_STATE_DIR="+w.state, "ZDML_MODELS_DIR="+testenv.ModelsDir(t), "ZDML_REPO="+w.repo, "ZDML_BRANCH=main",
		"ZDML_FILE=desired.yaml", "ZDML_PUBLIC_ADDR="+w.public, "ZDML_ADMIN_ADDR="+w.admin, "ZDML_API_ADDR="+testenv.FreeAddr(t),
		"ZDML_BLUE_ADDR="+testenv.FreeAddr(t), "ZDML_GREEN_ADDR="+testenv.FreeAddr(t), "ZDML_MODELSERVER="+testenv.Binary(t, "modelserver"),
		"ZDML_RESYNC=200ms", "ZDML_POLL=1s")
	testenv.GitRepo(t, w.repo)
	t.Cleanup(w.cleanup)
	return w
}

func (w *world) git(args ...string) string {
	w.t.Helper()
	return testenv.Git(w.t, w.repo, args...)
}

func desired(version string) string {
	return fmt.Sprintf(`apiVersion: zdml/v1
kind: ModelDeployment
metadata: {name: chat}
spec:
  model: {name: tiny, version: %s, path: tiny.gguf}
  strategy: {type: bluegreen, readyTimeout: 30s, drainTimeout: 10s}
  warmup: {prompts: ["Say hello"], maxLatency: 10s, maxTokens: 4}
  resources: {memory: 256Mi, threads: 1, parallel: 2, ctx: 512}
`, version)
}

// commit commits desired(version) and returns the commit sha.
func (w *world) commit(version string) string {
	w.t.Helper()
	return w.commitText(desired(version), version)
}

// commitText commits text as desired.yaml and returns the commit sha.
func (w *world) commitText(text, msg string) string {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.repo, "desired.yaml"), []byte(text), 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.git("add", "desired.yaml")
	w.git("commit", "-q", "-m", msg)
	return w.git("rev-parse", "HEAD")
}

// zdml runs a CLI command to completion.
func (w *world) zdmlRun(args ...string) (string, string, error) {
	cmd := exec.Command(w.zdml, args...)
	cmd.Env = w.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// serveV1 commits v1, starts the daemon and waits until v1 serves.
func (w *world) serveV1() {
	w.t.Helper()
	w.commit("v1")
	w.startDaemon()
	w.waitSynced("v1", time.Minute)
}

func (w *world) startDaemon() {
	w.t.Helper()
	cmd := exec.Command(w.zdml, "reconcile")
	cmd.Env = w.env
	w.daemonIO = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = w.daemonIO, w.daemonIO
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.daemon = cmd
}

// kill9 SIGKILLs the daemon; the model servers and nginx keep running.
func (w *world) kill9() {
	_ = w.daemon.Process.Kill()
	_ = w.daemon.Wait()
	w.daemon = nil
}

func (w *world) stopDaemon() {
	if w.daemon == nil {
		return
	}
	_ = w.daemon.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = w.daemon.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		w.daemon.Process.Kill()
		<-done
	}
	w.daemon = nil
}

// cleanup stops the daemon, nginx (master and workers: a SIGKILLed master
// leaves its workers running) and every model server of this state
// directory.
func (w *world) cleanup() {
	w.stopDaemon()
	if n, err := nginx.NewLocal(filepath.Join(w.state, "nginx")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := n.Stop(ctx); err != nil {
			w.t.Logf("stop nginx: %v", err)
		}
		cancel()
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(b, []byte(w.state+"/")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if w.t.Failed() && w.daemonIO != nil {
		w.t.Logf("daemon output (tail):\n%s", tail(w.daemonIO.String(), 3000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// status reads `zdml status --json` (through the daemon's API when one
// runs, else by observing).
func (w *world) status() reconciler.StatusReport {
	w.t.Helper()
	out, errs, err := w.zdmlRun("status", "--json")
	if err != nil {
		w.t.Fatalf("zdml status: %v\n%s", err, errs)
	}
	var st reconciler.StatusReport
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		w.t.Fatalf("status json: %v\n%s", err, out)
	}
	return st
}

func (w *world) waitSynced(version string, timeout time.Duration) reconciler.StatusReport {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := w.status()
		if st.SyncState == reconciler.SyncSynced && st.ActiveVersion == version && st.Step == "" && st.Nginx.Active == st.ActiveColor {
			return st
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("not synced to %s after %s: %+v", version, timeout, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitEvent waits for an event in events.jsonl matching match.
func (w *world) waitEvent(timeout time.Duration, match func(reconciler.Event) bool) reconciler.Event {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f, err := os.Open(filepath.Join(w.state, reconciler.EventsFile)); err == nil {
			evs, _ := reconciler.ReadEvents(f)
			f.Close()
			for _, e := range evs {
				if match(e) {
					return e
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	w.t.Fatalf("no matching event within %s", timeout)
	return reconciler.Event{}
}

// clients chat through nginx until stopped, counting failures.
type clients struct {
	ok, failed atomic.Int64
	first      atomic.Value
	stop       chan struct{}
	done       chan struct{}
}

func startChat(public string) *clients {
	return startChatAt(&http.Client{Timeout: 30 * time.Second}, "http://"+public+"/chat")
}

// startChatAt chats at url (nginx's /chat, a Service through the API
// server's proxy) with hc until stopped.
func startChatAt(hc *http.Client, url string) *clients {
	c := &clients{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.stop:
				return
			default:
			}
			resp, err := hc.Post(url, "application/json", strings.NewReader(`{"message":"hi","max_tokens":6}`))
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("%s", resp.Status)
				}
			}
			if err != nil {
				c.failed.Add(1)
				c.first.CompareAndSwap(nil, err.Error())
				continue
			}
			c.ok.Add(1)
		}
	}()
	return c
}

// waitOK waits until n more requests have succeeded.
func (c *clients) waitOK(t *testing.T, n int64) {
	t.Helper()
	target := c.ok.Load() + n
	deadline := time.Now().Add(time.Minute)
	for c.ok.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests succeeded within a minute (%d failed)", c.ok.Load(), target, c.failed.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *clients) check(t *testing.T) {
	t.Helper()
	close(c.stop)
	<-c.done
	t.Logf("clients: %d ok, %d failed", c.ok.Load(), c.failed.Load())
	if c.failed.Load() > 0 {
		t.Errorf("%d requests failed through nginx; first: %v", c.failed.Load(), c.first.Load())
	}
}

// TestKillMidDeploy SIGKILLs the real `zdml reconcile` as a step of a
// deploy starts, then starts it again: it resumes (adopting the standby,
// or finishing after the swap) and converges to the new version, with
// clients chatting through nginx throughout and no request failing.
func TestKillMidDeploy(t *testing.T) {
	t.Parallel()
	for _, step := range []string{reconciler.StepStart, reconciler.StepReady, reconciler.StepWarmup,
		reconciler.StepSwap, reconciler.StepDrain, reconciler.StepStop} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.serveV1()
			c := startChat(w.public)
			c2 := w.commit("v2")
			ev := w.waitEvent(time.Minute, func(e reconciler.Event) bool {
				return e.Commit == c2 && e.Step == step && e.Phase == reconciler.PhaseStart
			})
			w.kill9()
			down := w.status() // observed without a daemon
			t.Logf("killed at %s; without a daemon status says %s, step %q", step, down.SyncState, down.Step)
			c.waitOK(t, 10) // served with no daemon at all
			restarted := time.Now()
			w.startDaemon()
			st := w.waitSynced("v2", time.Minute)
			t.Logf("converged %s after the restart", time.Since(restarted).Round(time.Millisecond))
			c.waitOK(t, 10)
			c.check(t)
			if st.DeployedCommit != c2 {
				t.Errorf("deployed commit %s, want %s", st.DeployedCommit, c2)
			}
			recs, err := reconciler.ReadHistory(w.state, 0)
			if err != nil {
				t.Fatal(err)
			}
			last := recs[len(recs)-1]
			if last.ID != ev.DeployID || last.Outcome != reconciler.OutcomeSucceeded {
				t.Errorf("history last %s %s, want the interrupted deploy %s resumed and succeeded", last.ID, last.Outcome, ev.DeployID)
			}
			for _, s := range last.Steps {
				t.Logf("  step %s %s %s %s", s.Name, s.Outcome, s.Duration, s.Message)
			}
			running := 0
			for _, cr := range st.Colors {
				if cr.Running {
					running++
				}
			}
			if running != 1 {
				t.Errorf("%d colors run, want 1", running)
			}
		})
	}
}

// TestCLI drives the CLI around a daemon: status through the API, a
// second daemon refused by the lock, an emergency rollback while the
// daemon is down (which quarantines the rolled-back spec, so the
// restarted daemon leaves it), and history.
func TestCLI(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c1 := w.commit("v1")
	w.startDaemon()
	w.waitSynced("v1", time.Minute)
	c2 := w.commit("v2")
	st := w.waitSynced("v2", time.Minute)
	if st.DesiredCommit != c2 || st.DeployedCommit != c2 || st.LastDeploy == nil || st.LastDeploy.FromVersion != "v1" ||
		st.LastDeploy.ToVersion != "v2" || st.LastDeploy.Outcome != reconciler.OutcomeSucceeded {
		t.Errorf("status --json: %+v", st)
	}
	// A second daemon on the same state is refused, naming the first.
	_, errs, err := w.zdmlRun("reconcile")
	if err == nil || !strings.Contains(errs, fmt.Sprintf("locked by zdml reconcile (pid %d", w.daemon.Process.Pid)) {
		t.Errorf("second reconcile: %v %q, want refused naming pid %d", err, errs, w.daemon.Process.Pid)
	}
	// Manual controls are refused while the daemon runs.
	if _, errs, err := w.zdmlRun("swap", "blue"); err == nil || !strings.Contains(errs, "daemon") {
		t.Errorf("swap with a daemon: %v %q", err, errs)
	}
	w.stopDaemon()
	c := startChat(w.public)
	out, errs, err := w.zdmlRun("rollback")
	if err != nil || !strings.Contains(out, "rollback") || !strings.Contains(out, "succeeded") {
		t.Fatalf("rollback with the daemon down: %v\n%s%s", err, out, errs)
	}
	down := w.status()
	if down.ActiveVersion != "v1" || down.SyncState != reconciler.SyncQuarantined {
		t.Errorf("after rollback: %s %s, want v1 quarantined", down.ActiveVersion, down.SyncState)
	}
	w.startDaemon()
	time.Sleep(2 * time.Second) // a daemon that redeployed v2 would start now
	st = w.status()
	c.check(t)
	if st.ActiveVersion != "v1" || st.Quarantine == nil || st.DeployedCommit != c1 {
		t.Errorf("restarted daemon: %s quarantine %+v deployed %s, want v1 at %s, v2 quarantined", st.ActiveVersion, st.Quarantine, st.DeployedCommit, c1)
	}
	out, _, err = w.zdmlRun("history")
	if err != nil || strings.Count(out, "succeeded") != 3 || !strings.Contains(out, "rollback") || !strings.Contains(out, "steps: preflight") {
		t.Errorf("history: %v\n%s", err, out)
	}
	if out, _, err := w.zdmlRun("which-active"); err != nil || strings.TrimSpace(out) != "blue" {
		t.Errorf("which-active = %q %v, want blue", out, err)
	}
	if out, _, err := w.zdmlRun("mem"); err != nil || !strings.Contains(out, "blue") || !strings.Contains(out, "nginx") {
		t.Errorf("mem: %v\n%s", err, out)
	}
	// `zdml deploy` retries the quarantined spec on purpose.
	if out, errs, err := w.zdmlRun("deploy"); err != nil || !strings.Contains(out, "succeeded") {
		t.Errorf("deploy: %v\n%s%s", err, out, errs)
	}
	w.waitSynced("v2", time.Minute)
	if _, errs, err := w.zdmlRun("down"); err == nil || !strings.Contains(errs, "daemon") {
		t.Errorf("down with a daemon: %v %q, want refused", err, errs)
	}
	w.stopDaemon()
	if out, errs, err := w.zdmlRun("down"); err != nil || !strings.Contains(out, "stopped nginx, green") {
		t.Errorf("down: %v %q %q", err, out, errs)
	}
	if st := w.status(); st.Nginx.Running || st.Colors[0].Running || st.Colors[1].Running {
		t.Errorf("after down: %+v", st)
	}
}

// TestBadFlags: malformed flags and environment values are fatal and clear.
func TestBadFlags(t *testing.T) {
	zdml := testenv.Binary(t, "zdml")
	tests := []struct {
		name    string
		env     []string
		args    []string
		wantErr string
	}{
		{name: "malformed env duration", env: []string{"ZDML_RESYNC=soon"}, args: []string{"status"}, wantErr: `ZDML_RESYNC="soon"`},
		{name: "public api address", args: []string{"status", "--api-addr", "0.0.0.0:9400"}, wantErr: "must be a loopback address"},
		{name: "bad port", args: []string{"status", "--blue-addr", "127.0.0.1:99999"}, wantErr: "--blue-addr"},
		{name: "bad color", args: []string{"swap", "purple"}, wantErr: `color "purple"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(context.Background(), zdml, tt.args...)
			cmd.Env = append(append(os.Environ(), "ZDML_STATE_DIR="+t.TempDir()), tt.env...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.wantErr) {
				t.Errorf("got %v %q, want a failure naming %q", err, out, tt.wantErr)
			}
		})
	}
}

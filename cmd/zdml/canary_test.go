package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/reconciler"
)

// canaryDesired is version as a canary: 30 % with a 2 s pause, 70 % held
// until zdml resume or promote.
func canaryDesired(version string) string {
	return strings.Replace(desired(version), "strategy: {type: bluegreen, readyTimeout: 30s, drainTimeout: 10s}",
		`strategy:
    type: canary
    readyTimeout: 30s
    drainTimeout: 10s
    steps: [{setWeight: 30}, {pause: 2s}, {setWeight: 70}, {pause: {}}]
    analysis: {interval: 1s, minRequests: 2, failureLimit: 1, metrics: [{errorRate: {max: 0.01}}]}`, 1)
}

func (w *world) adminCanary() string {
	w.t.Helper()
	return testenv.GetText(w.t, "http://"+w.admin+"/zdml/canary")
}

// TestKillMidCanary SIGKILLs the real daemon while the canary holds 70 %:
// nginx keeps splitting traffic with no reconciler, status shows the
// recorded step and weight, and the restarted daemon resumes there (no
// step is run again) until zdml promote finishes it; no request fails.
func TestKillMidCanary(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.serveV1()
	c := startChat(w.public)
	c2 := w.commitText(canaryDesired("v2"), "v2 canary")
	w.waitEvent(time.Minute, func(e reconciler.Event) bool {
		return e.Commit == c2 && e.Step == reconciler.StepCanary && e.Weight != nil && *e.Weight == 70
	})
	w.kill9()
	if got := w.adminCanary(); got != "green 70" {
		t.Errorf("nginx without a reconciler splits %q, want green 70", got)
	}
	down := w.status()
	if down.Canary == nil || down.Canary.Weight != 70 || down.Canary.Step < 3 {
		t.Errorf("status without a daemon: canary %+v, want step 3 or 4 at 70%%", down.Canary)
	}
	killed := time.Now()
	c.waitOK(t, 10) // the split keeps serving with no daemon
	w.startDaemon()
	w.waitEvent(time.Minute, func(e reconciler.Event) bool {
		return e.Step == reconciler.StepCanary && strings.HasPrefix(e.Message, "pause until") && e.Time.After(killed)
	})
	out, stderr, err := w.zdmlRun("promote")
	if err != nil || !strings.Contains(stderr, "asking the reconciler") {
		t.Fatalf("zdml promote: %v (want it through the daemon)\n%s", err, stderr)
	}
	t.Logf("zdml promote: %s", strings.TrimSpace(out))
	st := w.waitSynced("v2", time.Minute)
	c.waitOK(t, 10)
	c.check(t)
	if st.Canary != nil || w.adminCanary() != "none" {
		t.Errorf("after promote: canary %+v, nginx %q", st.Canary, w.adminCanary())
	}
	var after []int
	f, err := os.Open(filepath.Join(w.state, reconciler.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := reconciler.ReadEvents(f)
	f.Close()
	for _, e := range evs {
		if e.Commit == c2 && e.Step == reconciler.StepCanary && e.Weight != nil && strings.HasPrefix(e.Message, "setWeight") && e.Time.After(killed) {
			after = append(after, *e.Weight)
		}
	}
	for _, w := range after {
		if w != 70 {
			t.Errorf("setWeight events after the restart %v: it must resume at the recorded 70%%, never start over", after)
		}
	}
}

// TestMaintenanceCLI: zdml maintenance on|off through the daemon.
func TestMaintenanceCLI(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.serveV1()
	if _, stderr, err := w.zdmlRun("maintenance", "on", "--message", "upgrading; back soon", "--retry-after", "45s"); err != nil {
		t.Fatalf("maintenance on: %v\n%s", err, stderr)
	}
	resp, err := http.Post("http://"+w.public+"/v1/chat/completions", "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Message, Type string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "45" || body.Error.Message != "upgrading; back soon" {
		t.Errorf("in maintenance: %s %q %+v", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	out, _, err := w.zdmlRun("status")
	if err != nil || !strings.Contains(out, "maintenance: on") {
		t.Errorf("status in maintenance: %v\n%s", err, out)
	}
	if _, stderr, err := w.zdmlRun("maintenance", "off"); err != nil {
		t.Fatalf("maintenance off: %v\n%s", err, stderr)
	}
	c := startChat(w.public)
	c.waitOK(t, 20)
	c.check(t)
	if _, _, err := w.zdmlRun("maintenance", "sideways"); err == nil {
		t.Error("zdml maintenance sideways succeeded")
	}
}

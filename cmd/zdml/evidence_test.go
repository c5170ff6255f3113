package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
)

// TestEvidenceCLI: a deploy that fails its warm-up under the daemon keeps
// its evidence; zdml evidence shows the newest (and by id, as JSON, and
// the list), and zdml status and history point at it.
func TestEvidenceCLI(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if _, errs, err := w.zdmlRun("evidence"); err == nil || !strings.Contains(errs, "no evidence") {
		t.Errorf("evidence before any failure: %v %q; want an error saying there is none", err, errs)
	}
	w.serveV1()
	w.commitText(strings.Replace(desired("v2"), "maxLatency: 10s, maxTokens: 4", "maxLatency: 10ms, maxTokens: 512", 1), "slow v2")
	w.waitEvent(2*time.Minute, func(e reconciler.Event) bool {
		return e.Step == reconciler.StepRollback && e.Phase == reconciler.PhaseEnd
	})
	var st reconciler.StatusReport
	deadline := time.Now().Add(time.Minute)
	for st = w.status(); (st.LastDeploy == nil || st.LastDeploy.ToVersion != "v2") && time.Now().Before(deadline); st = w.status() {
		time.Sleep(100 * time.Millisecond)
	}
	l := st.LastDeploy
	if l == nil || l.Evidence == "" || l.Outcome != reconciler.OutcomeRolledBack {
		t.Fatalf("status last deploy: %+v", l)
	}

	out, errs, err := w.zdmlRun("evidence")
	t.Logf("zdml evidence:\n%s", out)
	for _, want := range []string{"evidence: " + l.Evidence, "failed:   warmup", "maxLatency 10ms", "prompts (asked at capture):",
		`1. "Say hello"`, "active  blue v1:", "standby green v2:", "standby log (last", "spec.yaml", "nginx.conf"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("zdml evidence: %v %q; output lacks %q", err, errs, want)
		}
	}
	out, _, err = w.zdmlRun("evidence", l.ID, "--json")
	var ev reconciler.Evidence
	if err != nil || json.Unmarshal([]byte(out), &ev) != nil || ev.Index.DeployID != l.ID || len(ev.Prompts) != 1 || len(ev.LogTail) == 0 {
		t.Errorf("zdml evidence %s --json: %v\n%s", l.ID, err, out)
	}
	if out, _, err := w.zdmlRun("evidence", "--list"); err != nil || !strings.Contains(out, l.ID) || !strings.Contains(out, "warmup") {
		t.Errorf("zdml evidence --list: %v\n%s", err, out)
	}
	if _, errs, err := w.zdmlRun("evidence", "20000101T000000Z-000000"); err == nil || !strings.Contains(errs, "only the last 20 are kept") {
		t.Errorf("zdml evidence of an unknown id: %v %q", err, errs)
	}
	link := "evidence: " + l.Evidence + " (zdml evidence " + l.ID + ")"
	for _, cmd := range []string{"status", "history"} {
		if out, _, err := w.zdmlRun(cmd); err != nil || !strings.Contains(out, link) {
			t.Errorf("zdml %s: %v; lacks %q:\n%s", cmd, err, link, out)
		}
	}
}

package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
)

// prewarmSpec is desired.yaml for version with strategy prewarm and no
// auto-promotion: a commit only warms the standby.
func prewarmSpec(version string) string {
	return strings.Replace(desired(version), "type: bluegreen", "type: prewarm, autoPromote: false", 1)
}

// TestPrewarmStatus: zdml prewarm-status says no standby is warm (exit 1)
// until a commit prewarms green, then green, the version, when it warmed
// and ready (exit 0), through the daemon and without one (observed
// directly); after deploy-fast nothing is prewarmed any more.
func TestPrewarmStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.commitText(prewarmSpec("v1"), "v1")
	w.startDaemon()
	w.waitSynced("v1", time.Minute)
	out, _, err := w.zdmlRun("prewarm-status")
	if err == nil || !strings.Contains(out, "ready:     no") || !strings.Contains(out, "zdml prewarm") {
		t.Errorf("prewarm-status with nothing prewarmed: %v\n%s; want exit 1 and a hint to prewarm", err, out)
	}
	committed := time.Now()
	w.commitText(prewarmSpec("v2"), "v2")
	var p reconciler.PrewarmReport
	deadline := time.Now().Add(time.Minute)
	for {
		out, errs, err := w.zdmlRun("prewarm-status", "--json")
		p = reconciler.PrewarmReport{}
		if jerr := json.Unmarshal([]byte(out), &p); jerr != nil {
			t.Fatalf("prewarm-status --json: %v %v\n%s%s", err, jerr, out, errs)
		}
		if err == nil && p.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("green never prewarmed: %+v (%v)", p, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if p.Color != "green" || p.Version != "v2" || p.WarmedAt.Before(committed) || !strings.Contains(p.Reason, "deploy-fast") {
		t.Errorf("prewarm-status --json: %+v; want green v2 warmed after the commit, pointing at deploy-fast", p)
	}
	w.stopDaemon()
	out, errs, err := w.zdmlRun("prewarm-status")
	if err != nil || !strings.Contains(out, "standby:   green v2") || !strings.Contains(out, "warmed at: ") || !strings.Contains(out, "ready:     yes") {
		t.Errorf("prewarm-status without a daemon: %v %s\n%s; want green v2 ready", err, errs, out)
	}
	if out, errs, err := w.zdmlRun("deploy-fast"); err != nil || !strings.Contains(out, "succeeded") {
		t.Fatalf("deploy-fast: %v\n%s%s", err, out, errs)
	}
	if out, _, err := w.zdmlRun("prewarm-status"); err == nil || !strings.Contains(out, "ready:     no") {
		t.Errorf("prewarm-status after deploy-fast: %v\n%s; want nothing prewarmed", err, out)
	}
}

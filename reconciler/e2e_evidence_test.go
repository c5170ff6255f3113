package reconciler

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkEvidence checks that a failed deploy's evidence folder holds the
// spec, the nginx config, the standby's log tail and the prompts with both
// versions' replies, plus the files named in also, and returns it.
func checkEvidence(t *testing.T, e *env, rec DeployRecord, also ...string) *Evidence {
	t.Helper()
	want := filepath.Join(e.stateDir, EvidenceDir, rec.ID)
	if rec.Evidence != want || rec.EvidenceError != "" {
		t.Fatalf("history evidence %q (error %q), want %s", rec.Evidence, rec.EvidenceError, want)
	}
	ev, err := ReadEvidence(e.stateDir, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	idx := ev.Index
	if idx.DeployID != rec.ID || idx.Step != rec.FailedStep || !strings.HasPrefix(rec.Reason, idx.Reason) || idx.At.IsZero() {
		t.Errorf("index: %+v; history: %s at %s", idx, rec.Reason, rec.FailedStep)
	}
	for _, f := range append([]string{EvidenceSpecFile, EvidenceNginxFile, EvidenceLogFile, EvidencePromptsFile}, also...) {
		fi, err := os.Stat(filepath.Join(ev.Dir, f))
		if err != nil || fi.Size() == 0 || !slices.Contains(idx.Files, f) {
			t.Errorf("evidence file %s: %v (index files %v, missing %v)", f, err, idx.Files, idx.Missing)
		}
	}
	conf, _ := os.ReadFile(filepath.Join(ev.Dir, EvidenceNginxFile))
	if !strings.Contains(string(conf), e.colors[rec.From]) {
		t.Errorf("nginx.conf does not route to the active color %s (%s)", rec.From, e.colors[rec.From])
	}
	sp, _ := os.ReadFile(filepath.Join(ev.Dir, EvidenceSpecFile))
	if !strings.Contains(string(sp), "version: "+rec.ToVersion) {
		t.Errorf("spec.yaml lacks version %s:\n%s", rec.ToVersion, sp)
	}
	if len(ev.LogTail) == 0 {
		t.Error("no log tail of the standby")
	}
	if len(ev.Prompts) == 0 {
		t.Fatal("no prompts")
	}
	if a := ev.Prompts[0].Active; a.Text == "" || a.Error != "" {
		t.Errorf("the active's reply: %+v", a)
	}
	if !slices.ContainsFunc(rec.Steps, func(s StepTiming) bool { return s.Name == StepEvidence && s.Outcome == "ok" }) {
		t.Errorf("history steps %v lack the evidence capture", stepNames(rec))
	}
	return ev
}

// TestEvidenceOfFailedGates: a failed warm-up and a failed readiness keep
// their evidence too, each prompt asked of both colors before the standby
// was stopped.
func TestEvidenceOfFailedGates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, step, reason string
		desired            desiredSpec
		standby            func(t *testing.T, r EvidenceReply)
	}{
		{name: "warm-up over budget", step: StepWarmup, reason: "maxLatency 10ms",
			desired: desiredSpec{Version: "v2", MaxLatency: "10ms", MaxTokens: 512},
			standby: func(t *testing.T, r EvidenceReply) {
				if r.Text == "" || r.Version != "v2" {
					t.Errorf("the standby's reply: %+v", r)
				}
			}},
		{name: "model cannot generate", step: StepReady, reason: "cannot generate",
			desired: desiredSpec{Version: "v2", Path: "broken-degenerate.gguf"},
			standby: func(t *testing.T, r EvidenceReply) {
				if r.Text != "" || r.Error != "" || r.Version != "v2" {
					t.Errorf("the degenerate standby's reply: %+v, want an empty one from v2 (it generates nothing)", r)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.serveV1()
			loop := startClients(t, e.public, 2)
			e.commit(tc.desired.yaml(), "bad v2")
			recs := e.waitDeploys(2, 2*time.Minute)
			loop.check(t)
			last := recs[len(recs)-1]
			logSteps(t, last)
			if last.Outcome != OutcomeRolledBack || last.FailedStep != tc.step || !strings.Contains(last.Reason, tc.reason) {
				t.Fatalf("history: %s at %s: %s", last.Outcome, last.FailedStep, last.Reason)
			}
			ev := checkEvidence(t, e, last)
			if p := ev.Prompts[0]; p.From != "asked at capture" || p.Prompt != "Say hello" || p.Active.Version != "v1" {
				t.Errorf("prompt: %+v", p)
			}
			tc.standby(t, ev.Prompts[0].Standby)
			if st := e.r.Status(); st.LastDeploy == nil || st.LastDeploy.Evidence != last.Evidence {
				t.Errorf("status last deploy: %+v", st.LastDeploy)
			}
		})
	}
}

// TestEvidenceDiskFull: the evidence folder is a 64 KiB tmpfs, filled up
// before the deploy. The failed deploy still rolls back at once with no
// failed request; the capture's failure is noted in history, status and
// the events, never the deploy's error.
func TestEvidenceDiskFull(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.serveV1()
	dir := filepath.Join(e.stateDir, EvidenceDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "zdml-test-evidence", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs (the test runs as root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	fill := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(dir, "filler"), "bs=4k")
	if out, err := fill.CombinedOutput(); err == nil || !strings.Contains(string(out), "No space left") {
		t.Fatalf("fill the tmpfs: %v: %s", err, out)
	}
	loop := startClients(t, e.public, 2)
	e.commit(desiredSpec{Version: "v2", MaxLatency: "10ms", MaxTokens: 512}.yaml(), "bad v2")
	recs := e.waitDeploys(2, 2*time.Minute)
	loop.check(t)
	last := recs[len(recs)-1]
	logSteps(t, last)
	if last.Outcome != OutcomeRolledBack || last.FailedStep != StepWarmup {
		t.Fatalf("history: %s at %s: %s", last.Outcome, last.FailedStep, last.Reason)
	}
	if last.Evidence != "" || !strings.Contains(last.EvidenceError, "no space left on device") {
		t.Errorf("history evidence %q, error %q; want none kept, for want of space", last.Evidence, last.EvidenceError)
	}
	if strings.Contains(last.Reason, "evidence") {
		t.Errorf("the deploy's reason mentions the evidence: %s", last.Reason)
	}
	var took time.Duration
	for _, s := range last.Steps {
		if s.Name == StepEvidence {
			took = s.Duration
		}
	}
	if took == 0 || took > evidenceTimeout {
		t.Errorf("the failed capture took %s (bound %s)", took, evidenceTimeout)
	}
	if st := e.r.Status(); st.LastDeploy == nil || st.LastDeploy.EvidenceError == "" || st.ActiveVersion != "v1" {
		t.Errorf("status: %+v, serving %s", st.LastDeploy, st.ActiveVersion)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("the full evidence folder holds %d entries, want the filler only", len(ents))
	}
	if n := len(e.strays()); n != 1 {
		t.Errorf("%d model servers run, want 1", n)
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
)

// TestDeployLog reads the deploy log as a user would, beside a running
// daemon: the last events as columns, raw JSON lines, and --follow, which
// prints a new deploy's events as they happen and ends cleanly on Ctrl-C.
func TestDeployLog(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if out, errs, err := w.zdmlRun("deploy-log"); err != nil || out != "" || !strings.Contains(errs, "no events yet") {
		t.Errorf("deploy-log before any deploy: %v %q %q; want nothing and a note", err, out, errs)
	}
	w.serveV1()

	out, errs, err := w.zdmlRun("deploy-log", "-n", "3")
	t.Logf("zdml deploy-log -n 3:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 3 || !strings.Contains(lines[2], "record") || !strings.Contains(lines[2], "end") ||
		!strings.Contains(lines[2], "v1") || !strings.Contains(lines[2], "blue") {
		t.Errorf("deploy-log -n 3: %v %q\n%s; want 3 lines ending with blue v1's record end", err, errs, out)
	}
	out, _, err = w.zdmlRun("deploy-log", "-n", "1", "--json")
	var ev reconciler.Event
	if err != nil || json.Unmarshal([]byte(out), &ev) != nil || ev.Step != reconciler.StepRecord || ev.Phase != reconciler.PhaseEnd {
		t.Errorf("deploy-log --json -n 1: %v %q; want the record end event as JSON", err, out)
	}
	if _, errs, err := w.zdmlRun("deploy-log", "-n", "0"); err == nil || !strings.Contains(errs, "-n 0") {
		t.Errorf("deploy-log -n 0: %v %q; want a clear error", err, errs)
	}

	follow := exec.Command(w.zdml, "deploy-log", "-n", "1", "--follow")
	follow.Env = w.env
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = follow.Process.Kill() })
	got := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			got <- sc.Text()
		}
		close(got)
	}()
	var seen []string
	select { // the -n 1 line: --follow has read the log's end and follows from there
	case line := <-got:
		seen = append(seen, line)
	case <-time.After(30 * time.Second):
		t.Fatal("deploy-log --follow printed nothing within 30 s")
	}
	w.commit("v2")
	deadline := time.After(time.Minute)
	for done := false; !done; {
		select {
		case line := <-got:
			seen = append(seen, line)
			done = strings.Contains(line, "v2") && strings.Contains(line, " record ") && strings.Contains(line, " end ")
		case <-deadline:
			t.Fatalf("deploy-log --follow printed no v2 record end within a minute:\n%s", strings.Join(seen, "\n"))
		}
	}
	steps := map[string]bool{}
	for _, l := range seen {
		if f := strings.Fields(l); len(f) > 4 {
			steps[f[3]] = true
		}
	}
	for _, s := range []string{reconciler.StepPreflight, reconciler.StepStart, reconciler.StepReady, reconciler.StepWarmup,
		reconciler.StepSwap, reconciler.StepDrain, reconciler.StepVerify, reconciler.StepStop} {
		if !steps[s] {
			t.Errorf("--follow did not print step %s of the v2 deploy:\n%s", s, strings.Join(seen, "\n"))
		}
	}
	if err := follow.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range got { // read to EOF before Wait closes the pipe
	}
	if err := follow.Wait(); err != nil {
		t.Errorf("deploy-log --follow after Ctrl-C: %v; want exit 0", err)
	}
}

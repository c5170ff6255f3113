package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// TestMakeTargets: the seed's reconciler targets run the zdml commands
// they name, on this repository's committed desired.yaml (make -n prints
// the commands without running them).
func TestMakeTargets(t *testing.T) {
	root := testenv.RepoRoot(t)
	tests := []struct {
		target   string
		vars     []string
		want     []string
		unwanted string
	}{
		{target: "prewarm-and-deploy", want: []string{"bin/zdml prewarm --repo . --branch main --file desired.yaml", "&& bin/zdml deploy-fast --repo ."}},
		{target: "prewarm-status", want: []string{"bin/zdml prewarm-status --repo ."}},
		{target: "deploy-log", want: []string{"bin/zdml deploy-log ", "--repo ."}, unwanted: "--follow"},
		{target: "deploy-log", vars: []string{"FOLLOW=1"}, want: []string{"bin/zdml deploy-log --follow --repo ."}},
		{target: "start-blue", want: []string{"bin/zdml start blue --repo ."}},
		{target: "stop-blue", want: []string{"bin/zdml stop blue --repo ."}},
		{target: "promote", want: []string{"bin/zdml promote --repo ."}},
		{target: "abort", want: []string{"bin/zdml abort --repo ."}},
		{target: "pause", want: []string{"bin/zdml pause --repo ."}},
		{target: "resume", want: []string{"bin/zdml resume --repo ."}},
		{target: "maintenance-on", vars: []string{"MSG=back at 5", "RETRY_AFTER=60s"}, want: []string{`bin/zdml maintenance on --message "back at 5" --retry-after 60s --repo .`}},
		{target: "maintenance-off", want: []string{"bin/zdml maintenance off --repo ."}},
		{target: "evidence", want: []string{"bin/zdml evidence  --repo ."}},
		{target: "evidence", vars: []string{"ID=20261206T093911Z-d802ad"}, want: []string{"bin/zdml evidence 20261206T093911Z-d802ad --repo ."}},
		{target: "evidence", vars: []string{"LIST=1"}, want: []string{"bin/zdml evidence --list  --repo ."}},
		{target: "loadtest-storm", want: []string{`ZDML_LOADTEST_COMMAND="make loadtest-storm"`, "bin/zdml loadtest --scenarios-dir loadgen/scenarios/storm"}},
		{target: "soak", want: []string{`ZDML_LOADTEST_COMMAND="make soak"`, "ZDML_LOADTEST_DURATION= ", "bin/zdml loadtest --scenarios-dir loadgen/scenarios/soak"}},
		{target: "soak", vars: []string{"DURATION=5m"}, want: []string{`ZDML_LOADTEST_COMMAND="make soak DURATION=5m"`, "ZDML_LOADTEST_DURATION=5m "}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{tt.target}, tt.vars...), " "), func(t *testing.T) {
			out, err := exec.Command("make", append([]string{"-n", "-C", root, tt.target}, tt.vars...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("make -n %s: %v\n%s", tt.target, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("make -n %s runs\n%s\nwant a command containing %q", tt.target, out, w)
				}
			}
			if tt.unwanted != "" && strings.Contains(string(out), tt.unwanted) {
				t.Errorf("make -n %s runs\n%s\nwant no %q", tt.target, out, tt.unwanted)
			}
		})
	}
}

// TestMakeOpenReport runs make open-report in a directory with and
// without reports/latest.md: it prints the report's path and hands it to
// xdg-open when there is one (here a stand-in for the desktop's opener
// that records its argument), and says how to make a report when there is
// none.
func TestMakeOpenReport(t *testing.T) {
	makefile := filepath.Join(testenv.RepoRoot(t), "Makefile")
	dir, bin := t.TempDir(), t.TempDir()
	opened := filepath.Join(bin, "opened")
	opener := "#!/bin/sh\nprintf '%s' \"$1\" > " + opened + "\n"
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(opener), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		cmd := exec.Command("make", "-s", "-f", makefile, "open-report")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err == nil || !strings.Contains(out, "make loadtest-deploy") {
		t.Errorf("open-report without a report: %v %q; want a failure saying how to make one", err, out)
	}
	report := filepath.Join(dir, "reports", "latest.md")
	if err := os.MkdirAll(filepath.Dir(report), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(report, []byte("# report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run()
	if err != nil || strings.TrimSpace(out) != report {
		t.Errorf("open-report: %v %q; want the path %s", err, out, report)
	}
	var got []byte
	for range 50 { // xdg-open runs in the background
		if got, err = os.ReadFile(opened); err == nil && len(got) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if string(got) != report {
		t.Errorf("xdg-open was given %q; want %s", got, report)
	}
}

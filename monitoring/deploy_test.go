package monitoring

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// TestCommitTrigger: the trigger refuses a desired.yaml without changes
// (it would deploy nothing) and commits one with changes, that file only.
func TestCommitTrigger(t *testing.T) {
	repo := t.TempDir()
	testenv.GitRepo(t, repo)
	git := func(args ...string) string { return testenv.Git(t, repo, args...) }
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("desired.yaml", "version: v1\n")
	write("notes.txt", "a\n")
	git("add", ".")
	git("commit", "-q", "-m", "v1")
	trigger := CommitTrigger(repo, "main", "desired.yaml", "deploy v2")

	err := trigger(context.Background())
	if !errors.Is(err, ErrNothingToCommit) {
		t.Fatalf("unchanged file: got %v, want ErrNothingToCommit", err)
	}
	write("desired.yaml", "version: v2\n")
	write("notes.txt", "b\n")
	if err := trigger(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := git("log", "-1", "--format=%s"); got != "deploy v2" {
		t.Errorf("last commit %q, want %q", got, "deploy v2")
	}
	if got := git("show", "--name-only", "--format=", "HEAD"); got != "desired.yaml" {
		t.Errorf("commit holds %q, want desired.yaml only", got)
	}
	if got := git("status", "--porcelain"); got != "M notes.txt" {
		t.Errorf("work tree %q, want notes.txt still modified", got)
	}
	if err := CommitTrigger(repo, "release", "desired.yaml", "x")(context.Background()); err == nil || !strings.Contains(err.Error(), "on branch main; the reconciler deploys release") {
		t.Errorf("other branch: got %v, want a branch error", err)
	}
	if err := CommitTrigger(t.TempDir(), "main", "desired.yaml", "x")(context.Background()); err == nil || !strings.Contains(err.Error(), "git rev-parse") {
		t.Errorf("outside a repository: got %v, want a git error", err)
	}
}

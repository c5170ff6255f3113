package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// GitRepo makes dir (and its parents) an empty git repository on branch
// main with a committer identity, using the real git CLI.
func GitRepo(t testing.TB, dir string) {
	t.Helper()
	LookPath(t, "git", "git")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	Git(t, dir, "init", "-q", "-b", "main")
	Git(t, dir, "config", "user.email", "test@example.com")
	Git(t, dir, "config", "user.name", "test")
}

// Git runs git with args in the repository dir and returns its trimmed
// output; a failure fails the test with that output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// A held-out text is read from the commit being deployed in GitOps mode
// (never the working tree, never another commit), beside desired.yaml in
// file mode, and through a runtime override; paths leaving the
// repository are refused.
func TestReadRevisionFile(t *testing.T) {
	ctx := context.Background()
	repo := filepath.Join(t.TempDir(), "repo")
	testenv.GitRepo(t, repo)
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(repo, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("desired.yaml", "x: 1\n")
	write("eval/heldout.txt", "first text")
	testenv.Git(t, repo, "add", ".")
	testenv.Git(t, repo, "commit", "-q", "-m", "one")
	first := testenv.Git(t, repo, "rev-parse", "HEAD")
	write("eval/heldout.txt", "second text")
	testenv.Git(t, repo, "commit", "-q", "-am", "two")
	second := testenv.Git(t, repo, "rev-parse", "HEAD")
	write("eval/heldout.txt", "not committed")

	gs, err := NewGitSource(repo, "main", "desired.yaml", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := WithRuntime(gs, "process", "")
	if err != nil {
		t.Fatal(err)
	}
	fs, err := NewFileSource(filepath.Join(repo, "desired.yaml"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, commit, rel string
		src               Source
		want, err         string
	}{
		{name: "first commit", src: gs, commit: first, rel: "eval/heldout.txt", want: "first text"},
		{name: "second commit", src: gs, commit: second, rel: "eval/heldout.txt", want: "second text"},
		{name: "cleaned path", src: gs, commit: second, rel: "eval/./heldout.txt", want: "second text"},
		{name: "runtime override", src: rs, commit: first, rel: "eval/heldout.txt", want: "first text"},
		{name: "file mode reads the disk", src: fs, rel: "eval/heldout.txt", want: "not committed"},
		{name: "not in the commit", src: gs, commit: first, rel: "eval/missing.txt", err: "eval/missing.txt at commit"},
		{name: "escapes", src: gs, commit: first, rel: "../etc/passwd", err: "want a path inside the repository"},
		{name: "absolute", src: fs, rel: "/etc/passwd", err: "want a path inside the repository"},
		{name: "no source", rel: "eval/heldout.txt", err: "cannot read other files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readRevisionFile(ctx, tt.src, tt.commit, tt.rel)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got %q, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

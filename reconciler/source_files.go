package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// maxRevisionFile bounds a file read beside desired.yaml (a held-out text).
const maxRevisionFile = 4 << 20

// revisionFiles is a Source that can read the other files of a desired
// state's revision: a quality gate's held-out text is read from the same
// commit as desired.yaml (GitOps), or beside the file (file mode).
type revisionFiles interface {
	// ReadFile reads rel, a slash path relative to the repository (the
	// file's directory in file mode), as of commit.
	ReadFile(ctx context.Context, commit, rel string) ([]byte, error)
}

var (
	_ revisionFiles = (*GitSource)(nil)
	_ revisionFiles = (*FileSource)(nil)
	_ revisionFiles = runtimeSource{}
)

// readRevisionFile reads rel of rev's commit from src.
func readRevisionFile(ctx context.Context, src Source, commit, rel string) ([]byte, error) {
	rf, ok := src.(revisionFiles)
	if !ok {
		return nil, fmt.Errorf("%s: the desired state's source %q cannot read other files", rel, sourceName(src))
	}
	clean := path.Clean(filepath.ToSlash(rel))
	if clean == "." || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, fmt.Errorf("%s: want a path inside the repository", rel)
	}
	return rf.ReadFile(ctx, commit, clean)
}

// ReadFile reads rel from the tree of commit (never the working tree), as
// desired.yaml was read.
func (s *GitSource) ReadFile(_ context.Context, commit, rel string) ([]byte, error) {
	if commit == "" {
		return nil, fmt.Errorf("%s: no commit", rel)
	}
	r, err := git.PlainOpenWithOptions(s.repo, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("git repo %s: %w", s.repo, err)
	}
	c, err := r.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("git repo %s: commit %.7s: %w", s.repo, commit, err)
	}
	f, err := c.File(rel)
	if err != nil {
		return nil, fmt.Errorf("%s at commit %.7s: %w", rel, commit, err)
	}
	if f.Size > maxRevisionFile {
		return nil, fmt.Errorf("%s at commit %.7s: larger than %d bytes", rel, commit, maxRevisionFile)
	}
	text, err := f.Contents()
	if err != nil {
		return nil, fmt.Errorf("%s at commit %.7s: %w", rel, commit, err)
	}
	return []byte(text), nil
}

// ReadFile reads rel relative to the desired file's directory; file mode
// has no commits, so what is on disk now is read.
func (s *FileSource) ReadFile(_ context.Context, _, rel string) ([]byte, error) {
	p := filepath.Join(filepath.Dir(s.path), filepath.FromSlash(rel))
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRevisionFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(b) > maxRevisionFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, maxRevisionFile)
	}
	return b, nil
}

// ReadFile reads from the wrapped source.
func (s runtimeSource) ReadFile(ctx context.Context, commit, rel string) ([]byte, error) {
	rf, ok := s.Source.(revisionFiles)
	if !ok {
		return nil, errors.New("the wrapped source cannot read other files")
	}
	return rf.ReadFile(ctx, commit, rel)
}

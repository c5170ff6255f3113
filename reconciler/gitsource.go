package reconciler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/zero-downtime-ml/zdml/spec"
)

var _ Source = (*GitSource)(nil)

// GitSource is desired.yaml as committed on a branch of a git repository
// (GitOps mode). What is deployed is what is committed, never a dirty
// working tree: the file is read from the branch head's tree.
type GitSource struct {
	repo   string // work tree or bare repository
	branch string
	file   string // slash path inside the repository
	poll   time.Duration
}

// NewGitSource reads file on branch of the repository at repo, re-reading
// at least every poll (DefaultPoll when 0).
func NewGitSource(repo, branch, file string, poll time.Duration) (*GitSource, error) {
	abs, err := filepath.Abs(repo)
	if err != nil {
		return nil, fmt.Errorf("git repo: %w", err)
	}
	if branch == "" {
		return nil, errors.New("git source: empty branch")
	}
	file = path.Clean(filepath.ToSlash(file))
	if file == "." || strings.HasPrefix(file, "../") || path.IsAbs(file) {
		return nil, fmt.Errorf("git source: file %q must be a path inside the repository", file)
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	s := &GitSource{repo: abs, branch: branch, file: file, poll: poll}
	if _, err := s.gitDir(); err != nil {
		return nil, err
	}
	return s, nil
}

// String names the repository, branch and file.
func (s *GitSource) String() string { return fmt.Sprintf("%s@%s:%s", s.repo, s.branch, s.file) }

// Read resolves the branch head and reads the file from its tree. The
// repository is opened afresh each time, so packs written by a gc or a
// fetch since the last read are seen.
func (s *GitSource) Read(context.Context) (Desired, error) {
	r, err := git.PlainOpenWithOptions(s.repo, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return Desired{}, fmt.Errorf("git repo %s: %w", s.repo, err)
	}
	ref, err := r.Reference(plumbing.NewBranchReferenceName(s.branch), true)
	if err != nil {
		return Desired{}, fmt.Errorf("git repo %s: branch %s: %w", s.repo, s.branch, err)
	}
	commit, err := r.CommitObject(ref.Hash())
	if err != nil {
		return Desired{}, fmt.Errorf("git repo %s: commit %s: %w", s.repo, ref.Hash(), err)
	}
	sha := ref.Hash().String()
	where := fmt.Sprintf("%s at commit %.7s", s.file, sha)
	f, err := commit.File(s.file)
	if err != nil {
		// A commit without the file is a bad commit, not a broken source.
		d := parseDesired(s.file, nil, sha, where)
		d.Doc, d.Err = nil, fmt.Errorf("%s: %w", where, err)
		return d, nil
	}
	if f.Size > spec.MaxFileSize {
		d := parseDesired(s.file, nil, sha, where)
		d.Doc, d.Err = nil, fmt.Errorf("%s: file is larger than %d bytes", where, spec.MaxFileSize)
		return d, nil
	}
	text, err := f.Contents()
	if err != nil {
		return Desired{}, fmt.Errorf("git repo %s: read %s: %w", s.repo, where, err)
	}
	return parseDesired(s.file, []byte(text), sha, where), nil
}

// gitDir finds the repository's git directory: <repo>/.git, the target of
// a .git file (worktrees, submodules), or repo itself when it is bare.
func (s *GitSource) gitDir() (string, error) {
	dot := filepath.Join(s.repo, ".git")
	fi, err := os.Stat(dot)
	switch {
	case err == nil && fi.IsDir():
		return dot, nil
	case err == nil:
		b, err := os.ReadFile(dot)
		if err != nil {
			return "", fmt.Errorf("git repo %s: %w", s.repo, err)
		}
		dir, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir:")
		if !ok {
			return "", fmt.Errorf("git repo %s: malformed .git file", s.repo)
		}
		dir = strings.TrimSpace(dir)
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(s.repo, dir)
		}
		return dir, nil
	}
	if _, err := os.Stat(filepath.Join(s.repo, "HEAD")); err == nil {
		return s.repo, nil
	}
	return "", fmt.Errorf("git repo %s: not a git repository", s.repo)
}

// watchDirs are the directories whose changes may move the branch: the
// git dir (HEAD, packed-refs), the branch's ref directory and its reflog
// directory, in the worktree's and the common git dir.
func (s *GitSource) watchDirs() ([]string, error) {
	gd, err := s.gitDir()
	if err != nil {
		return nil, err
	}
	roots := []string{gd}
	if b, err := os.ReadFile(filepath.Join(gd, "commondir")); err == nil {
		common := strings.TrimSpace(string(b))
		if !filepath.IsAbs(common) {
			common = filepath.Join(gd, common)
		}
		roots = append(roots, filepath.Clean(common))
	}
	refDir := path.Dir("refs/heads/" + s.branch)
	var dirs []string
	for _, root := range roots {
		dirs = append(dirs, root,
			filepath.Join(root, filepath.FromSlash(refDir)),
			filepath.Join(root, "logs", filepath.FromSlash(refDir)))
	}
	return dirs, nil
}

// Watch reacts to ref updates through inotify on the ref directories (a
// commit renames refs/heads/<branch>.lock onto refs/heads/<branch>), and
// polls as a fallback. Directories that do not exist yet (no reflog) are
// retried on each poll.
func (s *GitSource) Watch(ctx context.Context, notify func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", s, err)
	}
	defer w.Close()
	watched := map[string]bool{}
	addDirs := func() {
		dirs, err := s.watchDirs()
		if err != nil {
			return
		}
		for _, d := range dirs {
			if !watched[d] && w.Add(d) == nil {
				watched[d] = true
			}
		}
	}
	addDirs()
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !strings.HasSuffix(ev.Name, ".lock") {
				notify()
			}
		case _, ok := <-w.Errors:
			if !ok {
				return nil
			}
			notify()
		case <-t.C:
			addDirs()
			notify()
		}
	}
}

package reconciler

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/zero-downtime-ml/zdml/spec"
)

var _ Source = (*FileSource)(nil)

// FileSource is desired.yaml on disk (file mode): what is in the file is
// what is deployed.
type FileSource struct {
	path string
	poll time.Duration
}

// NewFileSource watches the file at path, re-reading it at least every
// poll (DefaultPoll when 0).
func NewFileSource(path string, poll time.Duration) (*FileSource, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("desired file: %w", err)
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	return &FileSource{path: abs, poll: poll}, nil
}

// String names the file.
func (s *FileSource) String() string { return s.path }

// Read reads and parses the file.
func (s *FileSource) Read(context.Context) (Desired, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return Desired{}, fmt.Errorf("desired file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, spec.MaxFileSize+1))
	if err != nil {
		return Desired{}, fmt.Errorf("desired file: %w", err)
	}
	return parseDesired(s.path, data, "", s.path), nil
}

// Watch watches the file's directory, not the file: editors and `git
// checkout` replace files by renaming, which a watch on the old inode
// would miss.
func (s *FileSource) Watch(ctx context.Context, notify func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", s.path, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("watch %s: %w", s.path, err)
	}
	go pollLoop(ctx, s.poll, notify)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) == s.path {
				notify()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			_ = err // an overflow: the poll catches up
			notify()
		}
	}
}

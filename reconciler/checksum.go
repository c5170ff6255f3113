package reconciler

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/zero-downtime-ml/zdml/models"
)

// sumCache remembers model checksums by (path, size, mtime), so that
// pre-flight does not re-read a 1 GB file on every deploy; a file replaced
// or rewritten in place changes size or mtime and is hashed again.
type sumCache struct {
	mu      sync.Mutex
	entries map[string]sumEntry
	hash    func(ctx context.Context, path string) (string, error)
}

type sumEntry struct {
	size  int64
	mtime time.Time
	sum   string
}

func newSumCache() *sumCache {
	return &sumCache{entries: map[string]sumEntry{}, hash: models.SHA256}
}

// Sum returns the sha256 of path, from the cache when the file has not
// changed since it was hashed.
func (c *sumCache) Sum(ctx context.Context, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("checksum: %w", err)
	}
	c.mu.Lock()
	e, ok := c.entries[path]
	c.mu.Unlock()
	if ok && e.size == fi.Size() && e.mtime.Equal(fi.ModTime()) {
		return e.sum, nil
	}
	sum, err := c.hash(ctx, path)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.entries[path] = sumEntry{size: fi.Size(), mtime: fi.ModTime(), sum: sum}
	c.mu.Unlock()
	return sum, nil
}

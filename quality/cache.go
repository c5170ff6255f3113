package quality

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
	"github.com/zero-downtime-ml/zdml/spec"
)

// cacheEntries bounds the entries a Cache keeps in memory and on disk.
const cacheEntries = 8

// Cache keeps what the gate learned from an active model (golden replies,
// the held-out text's scores), keyed by the model's sha256 and a digest of
// the text and settings, so every deploy from one active version scores
// it once. In memory, and in a directory when one is given (a restarted
// reconciler keeps it); a file that cannot be read or written is a miss,
// never an error: the gate then scores again.
type Cache struct {
	dir string

	mu    sync.Mutex
	mem   map[string]*reference
	order []string // oldest first
}

// NewCache returns a cache in memory, also kept in dir unless dir is "".
func NewCache(dir string) *Cache {
	return &Cache{dir: dir, mem: map[string]*reference{}}
}

// refKey names a model's reference: the model and everything that shapes
// what is asked of it.
func refKey(modelSHA256, heldOutDigest string, q spec.Quality) string {
	h := sha256.New()
	b, _ := json.Marshal([]any{modelSHA256, KLTopK, goldenSeed, heldOutDigest, q.HeldOutTokens, q.MaxTokens, q.Prompts, segmentVersion})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func (c *Cache) get(key string) (*reference, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ref, ok := c.mem[key]; ok {
		return ref, true
	}
	if c.dir == "" {
		return nil, false
	}
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return nil, false
	}
	var ref reference
	if json.Unmarshal(b, &ref) != nil {
		return nil, false
	}
	c.remember(key, &ref)
	return &ref, true
}

// put stores ref; an error writing the directory leaves it in memory only.
func (c *Cache) put(key string, ref *reference) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remember(key, ref)
	if c.dir == "" {
		return nil
	}
	b, err := json.Marshal(ref)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("quality cache: %w", err)
	}
	if err := atomicfile.WriteFile(c.path(key), b, 0o644); err != nil {
		return fmt.Errorf("quality cache: %w", err)
	}
	return c.prune()
}

func (c *Cache) remember(key string, ref *reference) {
	if _, ok := c.mem[key]; !ok {
		c.order = append(c.order, key)
	}
	c.mem[key] = ref
	for len(c.order) > cacheEntries {
		delete(c.mem, c.order[0])
		c.order = c.order[1:]
	}
}

// prune keeps the newest cacheEntries files of the directory.
func (c *Cache) prune() error {
	files, err := filepath.Glob(filepath.Join(c.dir, "*.json"))
	if err != nil || len(files) <= cacheEntries {
		return err
	}
	type aged struct {
		path string
		mod  int64
	}
	var all []aged
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			all = append(all, aged{f, st.ModTime().UnixNano()})
		}
	}
	for len(all) > cacheEntries {
		oldest := 0
		for i := range all {
			if all[i].mod < all[oldest].mod {
				oldest = i
			}
		}
		if err := os.Remove(all[oldest].path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("quality cache: %w", err)
		}
		all = append(all[:oldest], all[oldest+1:]...)
	}
	return nil
}

func (c *Cache) path(key string) string { return filepath.Join(c.dir, key+".json") }

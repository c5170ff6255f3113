package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Desired is one reading of desired.yaml.
type Desired struct {
	// Doc is the parsed, defaulted, validated document; nil when Err is set.
	Doc *spec.Document
	// Err says why the file is unusable (invalid YAML, unknown strategy...).
	Err error
	// Commit is the git commit the file was read from; "" in file mode.
	Commit string
	// Digest is the sha256 of the file's bytes: it tells a changed file
	// from an unchanged one, even one that does not parse.
	Digest string
	// Where names the file for messages: "desired.yaml at commit 1a2b3c4".
	Where string
}

// Source is where the desired state comes from: a file, or a file in a
// git branch. Read is cheap enough to call on every reconcile.
type Source interface {
	// Read returns the current desired state. An error means it could not
	// be read at all (a missing repository); a file that does not parse is
	// a Desired with Err set.
	Read(ctx context.Context) (Desired, error)
	// Watch calls notify, soon, whenever the desired state may have
	// changed, until ctx ends. Calls may be spurious; Read decides.
	Watch(ctx context.Context, notify func()) error
	// String describes the source for logs and status.
	String() string
}

// parseDesired turns the bytes read into a Desired.
func parseDesired(name string, data []byte, commit, where string) Desired {
	sum := sha256.Sum256(data)
	d := Desired{Commit: commit, Digest: hex.EncodeToString(sum[:]), Where: where}
	d.Doc, d.Err = spec.Parse(name, data)
	return d
}

// DefaultPoll is how often a source is re-read when no file event came:
// the fallback for file systems where inotify misses changes (network
// mounts, some container volumes).
const DefaultPoll = 5 * time.Second

// pollLoop calls notify every interval until ctx ends.
func pollLoop(ctx context.Context, interval time.Duration, notify func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			notify()
		}
	}
}

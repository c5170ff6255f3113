package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
)

// Deployer makes a scenario's deploy happen and waits for its outcome.
type Deployer interface {
	// Deploy commits the change and returns the commit id.
	Deploy(ctx context.Context, d *Deploy) (string, error)
	// Wait blocks until the deploy of commit, made at since, has finished:
	// version serves, or the deploy ended otherwise (rolled back, failed).
	Wait(ctx context.Context, commit, version string, since time.Time) (Outcome, error)
}

// Outcome is how a deploy ended, from the reconciler's status.
type Outcome struct {
	Result      string    `json:"result"` // succeeded, rolled_back, failed
	Reason      string    `json:"reason,omitempty"`
	FromVersion string    `json:"from_version,omitempty"`
	ToVersion   string    `json:"to_version,omitempty"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	SyncState   string    `json:"sync_state,omitempty"`
	ActiveColor string    `json:"active_color,omitempty"`
	Active      string    `json:"active_version,omitempty"`
}

// GitOps deploys the way a user does: it edits desired.yaml in the
// repository the reconciler watches and commits it with the git CLI, then
// follows the reconciler's GET /status until the deploy has finished.
type GitOps struct {
	Repo    string // working tree of the watched repository
	File    string // desired.yaml, relative to Repo
	APIURL  string // the reconciler's API, e.g. http://127.0.0.1:9400
	Runtime string // spec.runtime to write ("" keeps the file's)

	once   sync.Once
	client *reconciler.Client
}

// api is the one client of the reconciler's API every Wait shares: a new
// client per deploy left one idle keep-alive connection behind each time,
// and the daemon kept an open file and a goroutine for each (a soak of 20
// deploys counted 20 of both).
func (g *GitOps) api() *reconciler.Client {
	g.once.Do(func() { g.client = reconciler.NewClient(g.APIURL) })
	return g.client
}

var _ Deployer = (*GitOps)(nil)

// Deploy edits and commits desired.yaml.
func (g *GitOps) Deploy(ctx context.Context, d *Deploy) (string, error) {
	path := filepath.Join(g.Repo, g.File)
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	out, err := EditDesired(g.File, data, DesiredChange{Model: d.Model, Strategy: d.Strategy, Canary: d.Canary,
		Quality: d.Quality, Runtime: g.Runtime})
	if err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	msg := fmt.Sprintf("deploy %s %s (%s) from zdml loadtest", d.Model.Name, d.Model.Version, d.Strategy)
	return Commit(ctx, g.Repo, msg, g.File)
}

// Commit commits files in repo with the git CLI and returns the new HEAD.
// It sets an author, so that it works where git has no user configured.
func Commit(ctx context.Context, repo, msg string, files ...string) (string, error) {
	if _, err := git(ctx, repo, append([]string{"add", "--"}, files...)...); err != nil {
		return "", err
	}
	if _, err := git(ctx, repo, "commit", "-q", "-m", msg); err != nil {
		return "", err
	}
	head, err := git(ctx, repo, "rev-parse", "HEAD")
	return strings.TrimSpace(head), err
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=zdml loadtest", "GIT_AUTHOR_EMAIL=loadtest@zdml.invalid",
		"GIT_COMMITTER_NAME=zdml loadtest", "GIT_COMMITTER_EMAIL=loadtest@zdml.invalid")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Wait polls GET /status until the reconciler is no longer progressing,
// its last deploy finished after since, and either version is active or
// the deploy did not succeed. (A prewarm records a succeeded deploy of its
// own before the swap: that is not the end.)
func (g *GitOps) Wait(ctx context.Context, commit, version string, since time.Time) (Outcome, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	c := g.api()
	var last error
	for {
		st, err := c.Status(ctx)
		if err == nil {
			if o, done := deployOutcome(st, commit, version, since); done {
				return o, nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			if last != nil {
				return Outcome{}, fmt.Errorf("wait for deploy %s: %w (last status error: %v)", short(commit), ctx.Err(), last)
			}
			return Outcome{}, fmt.Errorf("wait for deploy %s: %w", short(commit), ctx.Err())
		case <-tick.C:
		}
	}
}

// deployOutcome is how the deploy of commit, made at since, ended according
// to st, once it has: the reconciler is neither progressing nor retrying (a
// failed attempt it will try again after a backoff is not the deploy's
// end), its last deploy finished after since, and version serves unless
// that deploy failed.
func deployOutcome(st reconciler.StatusReport, commit, version string, since time.Time) (Outcome, bool) {
	ld := st.LastDeploy
	if st.SyncState == reconciler.SyncProgressing || st.SyncState == reconciler.SyncRetrying ||
		ld == nil || ld.FinishedAt.Before(since) {
		return Outcome{}, false
	}
	if ld.Outcome == ExpectSucceeded && version != "" && st.ActiveVersion != version {
		return Outcome{}, false
	}
	if commit != "" && st.DesiredCommit != "" && !sameCommit(commit, st.DesiredCommit) {
		return Outcome{}, false
	}
	return Outcome{
		Result: ld.Outcome, Reason: ld.Reason, FromVersion: ld.FromVersion, ToVersion: ld.ToVersion,
		StartedAt: ld.StartedAt, FinishedAt: ld.FinishedAt, SyncState: st.SyncState,
		ActiveColor: string(st.ActiveColor), Active: st.ActiveVersion,
	}, true
}

func sameCommit(a, b string) bool {
	n := min(len(a), len(b))
	return n >= 7 && a[:n] == b[:n]
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

package monitoring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"
)

// DeployWatch takes metric snapshots around one deploy.
type DeployWatch struct {
	Prometheus *Client
	Status     StatusFunc                      // the reconciler's status: APIStatus, or MetricsStatus
	Trigger    func(ctx context.Context) error // starts the deploy; nil waits for one started otherwise
	Timeout    time.Duration                   // for the deploy to finish
	Settle     time.Duration                   // after it finishes, so Prometheus has scraped the end; a few scrape intervals
	Log        *slog.Logger
}

// DeployReport is what a monitored deploy measured.
type DeployReport struct {
	Prometheus     string
	Before, After  Status
	Pre, Post      Snapshot
	During         Snapshot // WindowMetrics over [Pre.At, Post.At]
	Started, Ended time.Time
}

// Run snapshots, triggers, waits for the reconciler to finish a new deploy,
// and snapshots again.
func (w DeployWatch) Run(ctx context.Context) (*DeployReport, error) {
	log := w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	before, err := w.Status(ctx)
	if err != nil {
		return nil, err
	}
	if before.SyncState == "progressing" {
		return nil, fmt.Errorf("a deploy is already progressing (step %s); run this when the reconciler is idle", before.Step)
	}
	r := &DeployReport{Prometheus: w.Prometheus.URL(), Before: before, Started: time.Now()}
	r.Pre = TakeSnapshot(ctx, w.Prometheus, PointMetrics, r.Started, 0, 0)
	log.Info("pre-deploy snapshot taken", "readings", len(r.Pre.Readings), "last_deploy", before.lastID())
	if w.Trigger != nil {
		if err := w.Trigger(ctx); err != nil {
			return nil, fmt.Errorf("trigger deploy: %w", err)
		}
	}
	after, err := w.waitDeploy(ctx, before.lastID())
	if err != nil {
		return nil, err
	}
	r.After = after
	if d := after.LastDeploy; d.FromVersion == "" && d.ToVersion == "" { // MetricsStatus knows neither
		d.FromVersion, d.ToVersion = before.ActiveVersion, after.DesiredVersion
	}
	log.Info("deploy finished", "id", after.lastID(), "outcome", after.LastDeploy.Outcome)
	if err := sleep(ctx, w.Settle); err != nil {
		return nil, err
	}
	r.Ended = time.Now()
	r.Post = TakeSnapshot(ctx, w.Prometheus, PointMetrics, r.Ended, 0, 0)
	r.During = TakeSnapshot(ctx, w.Prometheus, WindowMetrics, r.Ended, r.Ended.Sub(r.Started), w.Settle)
	return r, nil
}

// waitDeploy polls /status until a deploy other than prevID has finished
// and the reconciler is no longer progressing.
func (w DeployWatch) waitDeploy(ctx context.Context, prevID string) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	for {
		s, err := w.Status(ctx)
		if err == nil && s.lastID() != prevID && s.SyncState != "progressing" {
			return s, nil
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return Status{}, fmt.Errorf("no deploy finished within %s (last status error: %v)", w.Timeout, errOrNone(err))
		}
	}
}

func errOrNone(err error) any {
	if err == nil {
		return "none"
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrNothingToCommit means desired.yaml has no change to deploy.
var ErrNothingToCommit = errors.New("no uncommitted change")

// CommitTrigger returns a Trigger that commits file in the git repository
// repo, which a reconciler in GitOps mode deploys from branch. It refuses
// another checked-out branch (the reconciler would not see the commit) and
// a file without changes (it would deploy nothing).
func CommitTrigger(repo, branch, file, message string) func(context.Context) error {
	return func(ctx context.Context) error {
		git := func(args ...string) (string, error) {
			out, err := exec.CommandContext(ctx, "git", append([]string{"-C", repo}, args...)...).CombinedOutput()
			if err != nil {
				return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
			}
			return strings.TrimSpace(string(out)), nil
		}
		head, err := git("rev-parse", "--abbrev-ref", "HEAD")
		if err != nil {
			return err
		}
		if head != branch {
			return fmt.Errorf("%s is on branch %s; the reconciler deploys %s", repo, head, branch)
		}
		if _, err := git("diff", "--quiet", "HEAD", "--", file); err == nil {
			return fmt.Errorf("%s: %w: edit it first (the reconciler deploys what is committed)", file, ErrNothingToCommit)
		}
		if _, err := git("add", "--", file); err != nil {
			return err
		}
		_, err = git("commit", "-q", "-m", message, "--", file)
		return err
	}
}

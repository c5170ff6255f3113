package reconciler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
)

// StepQuality is the output-quality gate (spec.quality): the standby must
// answer as well as the active color before it gets any traffic.
const StepQuality = "quality"

// QualityCacheDir is where, in the state directory, the gate keeps what it
// learned from an active version (golden replies, held-out scores), so a
// version is scored once however many candidates are judged against it.
const QualityCacheDir = "quality-cache"

// qualityRetryDelay is the pause before the gate's one retry after an
// error that is not a verdict (a server busy, restarting or down).
const qualityRetryDelay = 2 * time.Second

// errQualityFailed is a verdict that failed; its message names each
// metric and its bound.
var errQualityFailed = errors.New("quality gate failed")

// newQualityGate is the reconciler's one gate, with the active's side
// cached in the state directory.
func newQualityGate(cfg Config) *quality.Gate {
	return quality.New(quality.WithCache(quality.NewCache(filepath.Join(cfg.StateDir, QualityCacheDir))),
		quality.WithLogger(cfg.Log.With("component", "quality")))
}

// qualityFor is the gate that reaches d's colors: the reconciler's own,
// or, for a runtime that reaches its colors through its own transport
// (runtime kubernetes: the API server's proxy), one with that transport
// and the same cache directory.
func (r *Reconciler) qualityFor(d *deploy) *quality.Gate {
	drv, err := r.driver(d.target.Spec.Runtime)
	if err != nil {
		return r.quality
	}
	hc, ok := drv.(interface{ HTTPClient() *http.Client })
	if !ok {
		return r.quality
	}
	r.driversMu.Lock()
	defer r.driversMu.Unlock()
	if g := r.gates[drv]; g != nil {
		return g
	}
	if r.gates == nil {
		r.gates = map[driver.Driver]*quality.Gate{}
	}
	g := quality.New(quality.WithCache(quality.NewCache(filepath.Join(r.cfg.StateDir, QualityCacheDir))),
		quality.WithHTTPClient(hc.HTTPClient()), quality.WithLogger(r.cfg.Log.With("component", "quality", "runtime", drv.Name())))
	r.gates[drv] = g
	return g
}

// applicable drops the steps a deploy's spec does not ask for: the
// quality gate runs only when spec.quality is set.
func applicable(steps []step, d *deploy) []step {
	if d.target.Spec != nil && d.target.Spec.Quality != nil {
		return steps
	}
	out := make([]step, 0, len(steps))
	for _, s := range steps {
		if s.name != StepQuality {
			out = append(out, s)
		}
	}
	return out
}

// stepQuality judges the standby against the active color, before any
// traffic reaches it (for a canary, before its first weight): spec.quality's
// golden prompts on both, and the held-out text (read from the deploy's
// commit) scored by both, giving the perplexity ratio and the mean KL
// divergence (package quality). The standby stays at the priority it was
// warmed at (low, unless the warm-up had to raise it); the active is asked
// one request at a time with pauses between, once per active version (the
// cache). A verdict that fails fails the step with each failed metric and
// its bound; an error that is not a verdict (a server busy or down) is
// retried once after qualityRetryDelay, then fails the step with that
// error: the gate never passes without a verdict. A first deploy has
// nothing to compare with, and a rollback or a self-heal goes back to a
// version that served: both skip it. It changes nothing but the caches.
func (r *Reconciler) stepQuality(ctx context.Context, d *deploy) error {
	q := d.target.Spec.Quality
	if q == nil {
		return nil
	}
	if why := qualitySkipped(d); why != "" {
		d.note = why
		return nil
	}
	text, err := r.heldOut(ctx, d)
	if err != nil {
		return err
	}
	gctx, cancel := context.WithTimeout(ctx, q.Timeout.Duration)
	defer cancel()
	v, err := r.judge(gctx, d, text)
	if err != nil {
		return err
	}
	d.verdict = v
	r.events.Emit(Event{DeployID: d.id, Step: StepQuality, Phase: PhaseInfo, Color: d.to, Version: d.target.Version,
		Commit: d.target.Commit, Message: v.Summary(), Quality: v})
	if !v.Pass {
		return fmt.Errorf("%w: %s", errQualityFailed, v.Reason)
	}
	d.note = v.Summary()
	if v.ActiveCached {
		d.note += "; the active's side scored ahead (while the standby loaded) or by an earlier deploy"
	}
	if d.inst.Priority == driver.PriorityLow {
		d.note += "; standby at low priority"
	}
	return nil
}

// qualitySkipped says why a deploy with spec.quality is not judged: a
// first deploy has nothing to compare with, and a rollback or a self-heal
// goes back to a version that served.
func qualitySkipped(d *deploy) string {
	switch {
	case d.from == "":
		return "first deploy: no active version to compare with"
	case d.kind == KindRollback || d.kind == KindSelfHeal:
		return "skipped for a " + d.kind
	}
	return ""
}

// prefetchQuality starts scoring the active's side of the gate (golden
// replies, held-out text; paced as the step would) in the background when
// a deploy that will be judged begins, so that it overlaps the standby's
// start, load, warm-up and judgement (the active's next segment while the
// standby scores this one). It stops when the judgement ends, or with the
// deploy. A failure only leaves the scoring to the step, which reports it
// if it happens again.
func (r *Reconciler) prefetchQuality(ctx context.Context, d *deploy, steps []step) {
	if !slices.ContainsFunc(steps, func(s step) bool { return s.name == StepQuality }) || qualitySkipped(d) != "" {
		return
	}
	text, err := r.heldOut(ctx, d)
	if err != nil {
		return // the step says why
	}
	q, active, log := *d.target.Spec.Quality, quality.Target{Addr: r.colorAddr(d.from)}, d.log
	gate := r.qualityFor(d)
	ev := Event{DeployID: d.id, Step: StepQuality, Phase: PhaseInfo, Color: d.from, Version: d.fromVer, Commit: d.target.Commit}
	go func() {
		side, err := gate.Prefetch(ctx, active, q, text)
		if err != nil && ctx.Err() == nil {
			log.Warn("quality: the active's side was not scored ahead; the quality step scores it", "err", err)
		}
		if side != nil && side.Duration > 0 {
			ev.Duration = side.Duration
			ev.Message = fmt.Sprintf("the active's side scored beside the standby's start and judgement: %d held-out tokens known and %d golden prompts, asked in %s",
				side.Tokens, len(q.Prompts), side.Duration.Round(time.Millisecond))
			r.events.Emit(ev)
		}
	}()
}

// judge asks the gate for a verdict, retrying once an error that is not one.
func (r *Reconciler) judge(ctx context.Context, d *deploy, text string) (*quality.Verdict, error) {
	active := quality.Target{Addr: r.colorAddr(d.from)}
	candidate := quality.Target{Addr: d.inst.Addr, SHA256: d.inst.ModelSHA256}
	q := *d.target.Spec.Quality
	gate := r.qualityFor(d)
	v, err := gate.Judge(ctx, active, candidate, q, text)
	if err == nil {
		return v, nil
	}
	d.log.Warn("quality gate could not judge; retrying once", "err", err)
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("could not judge: %w (%v)", err, context.Cause(ctx))
	case <-time.After(qualityRetryDelay):
	}
	v, err2 := gate.Judge(ctx, active, candidate, q, text)
	if err2 != nil {
		return nil, fmt.Errorf("could not judge after 2 attempts (no verdict, so no pass): %w", err2)
	}
	return v, nil
}

// heldOut is spec.quality.heldOut's text, read from the revision being
// deployed: from its commit's tree in GitOps mode, beside desired.yaml in
// file mode. "" (no heldOut) is quality.DefaultHeldOut.
func (r *Reconciler) heldOut(ctx context.Context, d *deploy) (string, error) {
	rel := d.target.Spec.Quality.HeldOut
	if rel == "" {
		return "", nil
	}
	if r.cfg.Source == nil {
		return "", fmt.Errorf("spec.quality.heldOut %s: no desired-state source to read it from", rel)
	}
	b, err := readRevisionFile(ctx, r.cfg.Source, d.target.Commit, rel)
	if err != nil {
		return "", fmt.Errorf("spec.quality.heldOut: %w", err)
	}
	return string(b), nil
}

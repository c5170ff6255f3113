package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/portcheck"
	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/models"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Pipelines: the seed's 13 steps as nine named steps, each a gate.
func (r *Reconciler) blueGreenSteps() []step {
	return []step{
		{StepPreflight, r.stepPreflight}, {StepStart, r.stepStart}, {StepReady, r.stepReady},
		{StepWarmup, r.stepWarmup}, {StepQuality, r.stepQuality}, {StepSwap, r.stepSwap}, {StepDrain, r.stepDrain},
		{StepVerify, r.stepVerify}, {StepStop, r.stepStop}, {StepRecord, r.stepRecord},
	}
}

// prewarmSteps start and warm the standby with no time pressure.
func (r *Reconciler) prewarmSteps() []step {
	return []step{
		{StepPreflight, r.stepPreflight}, {StepStart, r.stepStart}, {StepReady, r.stepReady},
		{StepWarmup, r.stepWarmup}, {StepQuality, r.stepQuality}, {StepRecord, r.stepRecord},
	}
}

// promoteSteps swap a prewarmed standby in: the fast phase.
func (r *Reconciler) promoteSteps() []step {
	return []step{
		{StepPreflight, r.stepPreflight}, {StepStart, r.stepStart}, {StepReady, r.stepReady},
		{StepSwap, r.stepSwap}, {StepDrain, r.stepDrain}, {StepVerify, r.stepVerify},
		{StepStop, r.stepStop}, {StepRecord, r.stepRecord},
	}
}

// stepPreflight checks, changing nothing: that the active color runs and
// answers and that nginx routes to it; free disk space; memory headroom
// for a second color; that the model file exists, has the spec's sha256
// (hashed once per file version) and parses as GGUF; that the standby's
// port is free or held by the standby itself; that the runtime exists.
// What the environment gets wrong (the active color or nginx down, disk,
// memory, a port in use) fails as transient, and is retried; what the
// spec gets wrong (the model, the runtime) quarantines it.
func (r *Reconciler) stepPreflight(ctx context.Context, d *deploy) error {
	s := d.target.Spec
	drv, err := r.driver(s.Runtime)
	if err != nil {
		return err
	}
	if err := r.checkRuntimeSwitch(d); err != nil {
		return err
	}
	if err := r.checkCanary(s); err != nil {
		return err
	}
	o := r.observe(ctx)
	if err := r.checkActive(ctx, o, d); err != nil {
		return err
	}
	if err := r.checkResources(ctx, o, d); err != nil {
		return err
	}
	path, sum, info, err := r.checkModel(ctx, s)
	if err != nil {
		return err
	}
	d.inst = r.instance(d.target, d.to, path, sum, d.priority)
	d.inst.DeployID, d.inst.SpecHash = d.id, d.target.SpecHash
	if a, ok := drv.(addressed); ok {
		d.inst.Addr = a.Addr(d.to) // reached through its runtime, no local port
		// A pod has no CPU priority (kubernetes.SetPriority): say so
		// rather than report a standby "at low priority".
		d.inst.Priority = driver.PriorityNormal
	} else if !o.running(d.to) {
		if err := portcheck.Free(d.inst.Addr); err != nil {
			return fmt.Errorf("standby %s: %w", d.to, err)
		}
	}
	d.note = fmt.Sprintf("model %s (%s, %s, %d bytes)", path, info.Architecture, info.Quantization, info.FileSize)
	return nil
}

// checkRuntimeSwitch refuses a deploy that would move the app between
// runtime kubernetes and the runtimes nginx routes while a color serves:
// neither router can route to the other's colors. zdml down first.
func (r *Reconciler) checkRuntimeSwitch(d *deploy) error {
	if d.from == "" {
		return nil
	}
	was := runtimeOf(r.state.Colors[d.from])
	if routedByNginx(was) != routedByNginx(d.target.Spec.Runtime) {
		return fmt.Errorf("runtime %s -> %s: the active color %s is not routed by the same router as the new one; stop the app (zdml down) and deploy again",
			was, d.target.Spec.Runtime, d.from)
	}
	return nil
}

func (r *Reconciler) checkActive(ctx context.Context, o observation, d *deploy) error {
	if d.from == "" {
		return nil
	}
	if d.swapped && o.route.Running && o.route.Active == d.to && o.running(d.to) {
		return nil // a resumed deploy past its swap: the new color serves already
	}
	if !o.running(d.from) {
		return transient(TransientActive, fmt.Errorf("active color %s is not running: %s", d.from, o.colors[d.from].ExitErr))
	}
	if _, err := r.clientFor(d.from).Deep(ctx, r.colorAddr(d.from)); err != nil {
		return transient(TransientActive, fmt.Errorf("active color %s does not answer: %w", d.from, err))
	}
	name := r.router().name()
	if !o.route.Running {
		return transient(TransientNginx, errors.New(name+" is not running"))
	}
	if o.route.Active != d.from && !(d.swapped && o.route.Active == d.to) {
		return transient(TransientNginx, fmt.Errorf("%s routes to %q, want %s", name, o.route.Active, d.from))
	}
	return nil
}

// checkResources checks disk space and memory headroom. A second color
// needs at most spec.resources.memory, and no more than the active color
// uses now (the model file's pages are shared through the page cache).
func (r *Reconciler) checkResources(ctx context.Context, o observation, d *deploy) error {
	free, err := procfs.DiskFree(r.cfg.StateDir)
	if err != nil {
		return err
	}
	if free < r.cfg.MinFreeDisk {
		return transient(TransientDisk, fmt.Errorf("disk: %s free in %s, want at least %s", spec.Quantity(free), r.cfg.StateDir, spec.Quantity(r.cfg.MinFreeDisk)))
	}
	if o.running(d.to) && o.colors[d.to].ConfigHash == d.target.ConfigHash {
		return nil // the standby is already up: it needs nothing more
	}
	if !routedByNginx(d.target.Spec.Runtime) {
		return nil // the scheduler places the standby where its memory request fits
	}
	need := int64(d.target.Spec.Resources.Memory)
	if d.from != "" {
		if deep, err := r.clientFor(d.from).Deep(ctx, r.colorAddr(d.from)); err == nil && deep.RSSBytes > 0 {
			need = min(need, deep.RSSBytes)
		}
	}
	avail, err := procfs.MemAvailable()
	if err != nil {
		return err
	}
	if avail < need {
		return transient(TransientMemory, fmt.Errorf("memory: %s available, a second color needs %s", spec.Quantity(avail), spec.Quantity(need)))
	}
	return nil
}

// checkModel resolves the model file and checks its checksum and header.
func (r *Reconciler) checkModel(ctx context.Context, s *spec.Spec) (path, sum string, info models.Info, err error) {
	path, err = s.Model.Resolve(r.cfg.ModelsDir)
	if err != nil {
		return "", "", info, err
	}
	if sum, err = r.sums.Sum(ctx, path); err != nil {
		return "", "", info, err
	}
	if want := strings.ToLower(s.Model.SHA256); want != "" && want != sum {
		return "", "", info, fmt.Errorf("model %s: sha256 %s, want %s", path, sum, want)
	}
	if info, err = models.Inspect(path); err != nil {
		return "", "", info, err
	}
	return path, sum, info, nil
}

// stepStart starts the standby color. It checks what the standby runs: the
// target config is adopted as it is (a resumed deploy, a prewarmed
// standby); anything else is stopped first. It changes the standby's
// process (started at d.priority) and its record in state.json.
func (r *Reconciler) stepStart(ctx context.Context, d *deploy) error {
	drv, err := r.driver(d.target.Spec.Runtime)
	if err != nil {
		return err
	}
	o := r.observe(ctx)
	cur := o.colors[d.to]
	d.started = true
	if cur.Running && (cur.ConfigHash != d.target.ConfigHash || cur.Addr != d.inst.Addr) {
		if err := r.stopColor(ctx, d.to, r.stopTimeout(d)); err != nil {
			return fmt.Errorf("replace standby %s (version %s): %w", d.to, cur.ModelVersion, err)
		}
		d.note = "replaced standby version " + cur.ModelVersion + "; "
	}
	st, err := drv.Start(ctx, d.inst)
	if err != nil {
		return err
	}
	if cur.Running && cur.ConfigHash == d.target.ConfigHash && cur.Addr == d.inst.Addr {
		d.note += "adopted the running standby (" + idNote(drv, st.ID) + ")"
	} else {
		d.note += "started " + idNote(drv, st.ID) + " at " + d.inst.Priority.String() + " priority"
	}
	cs := r.state.Color(d.to)
	*cs = ColorState{Role: RoleStandby, Runtime: drv.Name(), Version: d.target.Version, SpecHash: d.target.SpecHash,
		ConfigHash: d.target.ConfigHash, Addr: d.inst.Addr, ID: st.ID, StartedAt: st.StartedAt}
	return r.saveStateErr()
}

// idNote names a started color: "pid 123", or a runtime's own id (a pod).
func idNote(drv driver.Driver, id string) string {
	if drv.Name() == spec.RuntimeKubernetes {
		return id
	}
	return "pid " + id
}

// stepReady polls the standby's /ready until it answers 200 as the target
// color and version, within spec.strategy.readyTimeout, backing off from
// ReadyPollFirst to ReadyPollMax so that a standby loading a large model
// is not kept busy answering probes. It fails at once when the standby
// process dies, with its exit and the tail of its log. A standby the
// runtime has nowhere to run yet (a pod no node has room for) is waited
// for until readyTimeout, then fails as a transient failure (capacity:
// retried with backoff, never quarantined). It changes nothing.
func (r *Reconciler) stepReady(ctx context.Context, d *deploy) error {
	drv, err := r.driver(d.target.Spec.Runtime)
	if err != nil {
		return err
	}
	timeout := d.target.Spec.Strategy.ReadyTimeout.Duration
	unplaced := ""
	err = pollBackoff(ctx, ReadyPollFirst, ReadyPollMax, timeout, func(ctx context.Context) (bool, string, error) {
		st, err := drv.Inspect(ctx, d.to)
		if err != nil {
			return false, err.Error(), nil
		}
		if unplaced = st.Unplaced; unplaced != "" {
			return false, unplaced, nil // it may yet be placed: wait
		}
		if !st.Running {
			return false, "", fmt.Errorf("exited before it was ready: %s", st.ExitErr)
		}
		served, err := r.clientFor(d.to).Ready(ctx, d.inst.Addr)
		if err != nil {
			return false, err.Error(), r.hopeless(ctx, d, err)
		}
		if served.Color != d.to || served.Version != d.target.Version {
			return false, fmt.Sprintf("%s answers as %s %s, want %s %s", d.inst.Addr, served.Color, served.Version, d.to, d.target.Version), nil
		}
		if st.InstanceID != "" {
			r.state.Color(d.to).InstanceID = st.InstanceID
		}
		return true, "", nil
	})
	switch {
	case err != nil && unplaced != "":
		return transient(TransientCapacity, fmt.Errorf("standby %s: nowhere to run it within readyTimeout: %w", d.to, err))
	case err != nil:
		return fmt.Errorf("standby %s: %w", d.to, err)
	}
	return nil
}

// hopeless tells a standby that will never be ready from one that is
// still loading: a model that failed to load, or one that loaded but whose
// readiness inference fails outright (degenerate weights reply nothing).
// A probe that timed out or stalled is not hopeless: CPU contention can
// cause it, and the ready timeout decides.
func (r *Reconciler) hopeless(ctx context.Context, d *deploy, notReady error) error {
	deep, err := r.clientFor(d.to).Deep(ctx, d.inst.Addr)
	if err != nil {
		return nil
	}
	why := notReady.Error()
	switch {
	case deep.Model.State == "failed":
		return fmt.Errorf("standby %s failed to load its model: %s", d.to, deep.Model.Error)
	case deep.Model.State == "loaded" && strings.Contains(why, "readiness inference") &&
		!strings.Contains(why, "deadline") && !strings.Contains(why, "stalled") && !strings.Contains(why, "still running"):
		return fmt.Errorf("standby %s loaded its model but cannot generate: %s", d.to, strings.TrimPrefix(why, "not ready (503): "))
	}
	return nil
}

// stepWarmup runs real inferences on the standby with the spec's prompts:
// each must answer, as the target version, with a non-empty reply within
// spec.warmup.maxLatency. A standby that loaded at low priority warms up
// at low priority too, so the active color keeps the CPU until the swap
// raises the new one. When a prompt is too slow at low priority, that may
// be the scheduler rather than the model (at nice 19 beside a saturated
// active color a 16-token warm-up took over a minute in
// BenchmarkContention): the standby is then raised to normal priority and
// the prompts are judged again, and only a failure there fails the gate.
// It changes the standby's caches, and possibly its priority.
func (r *Reconciler) stepWarmup(ctx context.Context, d *deploy) error {
	low := d.inst.Priority == driver.PriorityLow
	took, err := r.warmup(ctx, d)
	var slow slowWarmup
	if err != nil && low && errors.As(err, &slow) {
		d.note = fmt.Sprintf("at low priority %v; %s; ", err, r.raisePriority(ctx, d.to))
		low = false
		took, err = r.warmup(ctx, d)
	}
	if err != nil {
		return err
	}
	if low {
		d.note += "at low priority; "
	}
	d.note += "latencies " + strings.Join(took, ", ")
	return nil
}

// slowWarmup is a warm-up prompt that answered too late (or not within
// maxLatency), as opposed to one that answered wrong.
type slowWarmup struct{ error }

// warmup sends each warm-up prompt once and returns their latencies.
func (r *Reconciler) warmup(ctx context.Context, d *deploy) ([]string, error) {
	w := d.target.Spec.Warmup
	var took []string
	for i, prompt := range w.Prompts {
		pctx, cancel := context.WithTimeout(ctx, w.MaxLatency.Duration)
		t0 := time.Now()
		reply, served, err := r.clientFor(d.to).Completion(pctx, d.inst.Addr, prompt, w.MaxTokens)
		elapsed := time.Since(t0)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil, context.Cause(ctx)
		case err != nil && elapsed >= w.MaxLatency.Duration:
			return nil, slowWarmup{fmt.Errorf("prompt %d: no reply within maxLatency %s", i+1, w.MaxLatency)}
		case err != nil:
			return nil, fmt.Errorf("prompt %d: %w", i+1, err)
		case served.Version != d.target.Version:
			return nil, fmt.Errorf("prompt %d: answered by version %q, want %q", i+1, served.Version, d.target.Version)
		case strings.TrimSpace(reply) == "":
			return nil, fmt.Errorf("prompt %d: empty reply (the model loads but does not generate text)", i+1)
		case elapsed > w.MaxLatency.Duration:
			return nil, slowWarmup{fmt.Errorf("prompt %d: took %s, over maxLatency %s", i+1, elapsed.Round(time.Millisecond), w.MaxLatency)}
		}
		took = append(took, elapsed.Round(time.Millisecond).String())
	}
	return took, nil
}

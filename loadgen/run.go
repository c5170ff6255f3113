package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// maxStoredBody bounds the response body kept per result: enough to read
// an error message, without storing every generated reply.
const maxStoredBody = 1024

// maxOpenLoopWorkers bounds vegeta's workers in rate mode, so that a
// stalled server cannot make the harness spawn without end.
const maxOpenLoopWorkers = 512

// Runner runs one scenario against a stack: it sends the traffic with
// vegeta, commits the deploy at the scenario's moment, follows the
// reconciler's events, and writes the run directory.
type Runner struct {
	sc        *Scenario
	target    string
	dir       string
	deployer  Deployer
	events    string
	progress  io.Writer
	every     time.Duration
	log       *slog.Logger
	transport http.RoundTripper
	info      RunInfo
	model     string
	sampler   *Sampler
}

// Option configures a Runner.
type Option func(*Runner)

// WithDeployer sets how the scenario's deploy is made (GitOps).
func WithDeployer(d Deployer) Option { return func(r *Runner) { r.deployer = d } }

// WithEvents follows the reconciler's events.jsonl at path.
func WithEvents(path string) Option { return func(r *Runner) { r.events = path } }

// WithProgress prints a progress line to w every interval.
func WithProgress(w io.Writer, every time.Duration) Option {
	return func(r *Runner) { r.progress, r.every = w, every }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(r *Runner) { r.log = l } }

// WithTransport replaces the keep-alive transport (the default is a clone
// of http.DefaultTransport, so the keep-alive race is really exercised).
func WithTransport(rt http.RoundTripper) Option { return func(r *Runner) { r.transport = rt } }

// WithRunInfo sets the fields of run.json the runner does not know itself
// (command, runtime, environment, scenario text).
func WithRunInfo(info RunInfo) Option { return func(r *Runner) { r.info = info } }

// WithSampler samples the stack through the run into samples.jsonl.
func WithSampler(s *Sampler) Option { return func(r *Runner) { r.sampler = s } }

// NewRunner prepares sc against the public URL target, writing into dir.
func NewRunner(sc *Scenario, target, dir string, opts ...Option) *Runner {
	r := &Runner{sc: sc, target: target, dir: dir, log: slog.New(slog.DiscardHandler), every: 5 * time.Second}
	for _, o := range opts {
		o(r)
	}
	if r.transport == nil {
		r.transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	r.model = sc.Stack.Model.Name
	return r
}

// Run runs the scenario to its end. It returns the run's data even when
// the run failed (deploy error, timeout), with the error.
func (r *Runner) Run(ctx context.Context) (*RunData, error) {
	if r.sc.HasDeploys() && r.deployer == nil {
		return nil, fmt.Errorf("scenario %s: has a deploy but no deployer (no repository to commit to)", r.sc.Name)
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	f, err := os.Create(filepath.Join(r.dir, ResultsFile))
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	a := r.newAttack()
	a.start(r.sc, r.target)
	info := r.info
	info.Scenario, info.Target, info.Started = r.sc.Name, r.target, a.began
	info.Rate, info.Concurrency = r.sc.Load.Rate.String(), r.sc.Load.Concurrency

	var wg sync.WaitGroup
	ctl := &controller{r: r, a: a, info: &info}
	wg.Add(3)
	go func() { defer wg.Done(); ctl.run(ctx) }()
	stopProgress := make(chan struct{})
	go func() { defer wg.Done(); r.reportProgress(a, stopProgress) }()
	sctx, stopSampling := context.WithCancel(ctx)
	var sampleErr error
	var samples []Sample
	if r.sampler != nil {
		st := r.sampler.Stack()
		info.Sampled = &st
	}
	go func() { defer wg.Done(); samples, sampleErr = r.sample(sctx) }()

	recs, encErr := a.collect(vegeta.NewEncoder(w))
	close(stopProgress)
	stopSampling()
	wg.Wait()
	if encErr == nil {
		encErr = sampleErr
	}
	info.Ended = time.Now()
	if encErr == nil {
		encErr = w.Flush()
	}
	data := &RunData{Dir: r.dir, Info: &info, Records: recs, Events: a.runEvents(), Samples: samples}
	if err := r.save(data); err != nil && encErr == nil {
		encErr = err
	}
	if encErr != nil {
		return data, fmt.Errorf("run %s: write results: %w", r.sc.Name, encErr)
	}
	if info.Error != "" {
		return data, fmt.Errorf("run %s: %s", r.sc.Name, info.Error)
	}
	return data, nil
}

// sample runs the sampler, if any, until ctx ends.
func (r *Runner) sample(ctx context.Context) ([]Sample, error) {
	if r.sampler == nil {
		return nil, nil
	}
	return r.sampler.Run(ctx, filepath.Join(r.dir, SamplesFile))
}

func (r *Runner) save(d *RunData) error {
	ef, err := os.Create(filepath.Join(r.dir, EventsFile))
	if err != nil {
		return err
	}
	if err := WriteEvents(ef, d.Events); err != nil {
		ef.Close()
		return err
	}
	if err := ef.Close(); err != nil {
		return err
	}
	return WriteRunInfo(r.dir, d.Info)
}

func (r *Runner) newAttack() *attack {
	obs := newObserver(r.transport)
	client := &http.Client{Transport: obs, Timeout: r.sc.Load.Timeout.Duration}
	opts := []func(*vegeta.Attacker){vegeta.Client(client), vegeta.MaxBody(maxStoredBody), vegeta.Redirects(vegeta.NoFollow)}
	if c := r.sc.Load.Concurrency; c > 0 {
		opts = append(opts, vegeta.Workers(uint64(c)), vegeta.MaxWorkers(uint64(c)))
	} else {
		opts = append(opts, vegeta.MaxWorkers(maxOpenLoopWorkers))
	}
	a := &attack{atk: vegeta.NewAttacker(opts...), obs: obs, model: r.model}
	if r.events != "" {
		a.tail = NewEventTail(r.events)
	}
	return a
}

// attack is one vegeta attack with the harness's side records.
type attack struct {
	atk     *vegeta.Attacker
	obs     *observer
	tail    *EventTail
	model   string
	began   time.Time
	results <-chan *vegeta.Result

	mu            sync.Mutex
	total, failed int
	lastErrorType string
	// planned and deploying count a series' deploys for the progress line.
	planned, deploying int
}

func (a *attack) setPlanned(n int) {
	a.mu.Lock()
	a.planned = n
	a.mu.Unlock()
}

func (a *attack) setDeploying(i int) {
	a.mu.Lock()
	a.deploying = i
	a.mu.Unlock()
}

// seriesProgress is "deploy 3/20", or "" outside a series.
func (a *attack) seriesProgress() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.planned == 0 {
		return ""
	}
	return fmt.Sprintf("deploy %d/%d", a.deploying, a.planned)
}

func (a *attack) start(sc *Scenario, target string) {
	tg := newTargeter(target, sc.Load)
	tg.model = a.model
	pacer := vegeta.Pacer(vegeta.ConstantPacer{})
	if sc.Load.Concurrency == 0 {
		pacer = sc.Load.Rate.Pacer()
	}
	a.began = time.Now()
	a.results = a.atk.Attack(tg.Targeter(), pacer, 0, sc.Name)
}

// collect annotates and encodes every result until the attack stops.
func (a *attack) collect(enc vegeta.Encoder) ([]Record, error) {
	var recs []Record
	var encErr error
	// A buffer between vegeta's workers and the encoder, so that a slow
	// disk or encoder never holds a worker (and so the pacer) back.
	buf := make(chan *vegeta.Result, 4096)
	go func() {
		defer close(buf)
		for res := range a.results {
			buf <- res
		}
	}()
	for res := range buf {
		a.annotate(res)
		if encErr == nil {
			encErr = enc.Encode(res)
		}
		rec := RecordOf(res)
		recs = append(recs, rec)
		a.mu.Lock()
		a.total++
		if rec.Failed() {
			a.failed++
			a.lastErrorType = ErrorType(rec)
		}
		a.mu.Unlock()
	}
	return recs, encErr
}

// annotate adds what the transport saw to res.Headers.
func (a *attack) annotate(res *vegeta.Result) {
	obs := a.obs.take(res.Seq)
	if obs == nil {
		return
	}
	if res.Headers == nil {
		res.Headers = http.Header{}
		for _, k := range []string{HeaderColor, HeaderVersion, "X-Request-Id"} {
			if v := obs.headers.Get(k); v != "" {
				res.Headers.Set(k, v)
			}
		}
	}
	res.Headers.Set(HeaderKind, obs.kind)
	res.Headers.Set(HeaderReused, strconv.FormatBool(obs.reused))
	if obs.status != 0 {
		res.Headers.Set(HeaderStatus, strconv.Itoa(obs.status))
	}
	if obs.ttft > 0 {
		res.Headers.Set(HeaderTTFT, strconv.FormatInt(int64(obs.ttft), 10))
	}
	if obs.maxTokens > 0 {
		res.Headers.Set(HeaderMaxTokens, strconv.Itoa(obs.maxTokens))
	}
	if obs.tokens > 0 {
		res.Headers.Set(HeaderTokens, strconv.Itoa(obs.tokens))
	}
}

func (a *attack) counts() (total, failed int, lastErr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total, a.failed, a.lastErrorType
}

// runEvents is the events seen since the attack began.
func (a *attack) runEvents() []Event {
	if a.tail == nil {
		return nil
	}
	_ = a.tail.Poll()
	return a.tail.Events()
}

package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zero-downtime-ml/zdml/modelserver/modelclient"
	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/reconciler/driver/kubernetes"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Default addresses of the process runtime (docs/architecture.md).
const (
	DefaultBlueAddr  = "127.0.0.1:8000"
	DefaultGreenAddr = "127.0.0.1:8001"
	DefaultAPIAddr   = "127.0.0.1:9400"
	// DefaultResync is how often the daemon observes nginx and the colors
	// to heal drift, whether or not desired.yaml changed.
	DefaultResync = 2 * time.Second
	// DefaultAPIIdleTimeout is how long the API keeps an idle keep-alive
	// connection open.
	DefaultAPIIdleTimeout = 60 * time.Second
	// DefaultMinFreeDisk is the free space pre-flight requires in the state
	// directory (logs, chat history, state).
	DefaultMinFreeDisk = 256 << 20
)

// Config is everything a Reconciler needs. Zero fields take defaults.
type Config struct {
	StateDir  string
	ModelsDir string
	// Source is where desired.yaml comes from (NewFileSource, NewGitSource).
	Source Source
	// PublicAddr and AdminAddr are nginx's listeners.
	PublicAddr string
	AdminAddr  string
	// ColorAddrs is where each color listens (blue 8000, green 8001).
	ColorAddrs map[spec.Color]string
	// APIAddr is recorded in the lock so that the CLI finds the daemon.
	APIAddr string
	// APIIdleTimeout closes an API connection idle that long
	// (DefaultAPIIdleTimeout): a client that keeps connections alive and
	// forgets them does not pin a file and a goroutine in the daemon.
	APIIdleTimeout time.Duration
	// Modelserver is the model-server binary for the process runtime.
	Modelserver string
	// Kubernetes configures the driver of runtime kubernetes beyond
	// spec.kubernetes (a REST config of its own, the preStop sleep).
	Kubernetes []kubernetes.Option
	// NginxRunner runs nginx; by default a local nginx under <state>/nginx.
	NginxRunner nginx.Runner
	// Resync is how often the daemon re-observes (DefaultResync).
	Resync time.Duration
	// MinFreeDisk is the pre-flight disk space floor (DefaultMinFreeDisk).
	MinFreeDisk int64
	// PrometheusURL is a Prometheus server's address (http://host:port)
	// for canary analysis metrics written in PromQL; "" allows none.
	PrometheusURL string
	// StopTimeout bounds a graceful stop beyond the spec's drain timeout.
	StopTimeout time.Duration
	// Command names the holder in the lock ("reconcile", "deploy", ...).
	Command string
	// Log is the logger; Registry receives the metrics (none when nil).
	Log      *slog.Logger
	Registry prometheus.Registerer
}

func (c *Config) setDefaults() error {
	if c.StateDir == "" {
		return errors.New("reconciler: no state directory")
	}
	if c.ModelsDir == "" {
		c.ModelsDir = "models"
	}
	if c.PublicAddr == "" {
		c.PublicAddr = nginx.DefaultPublicAddr
	}
	if c.AdminAddr == "" {
		c.AdminAddr = nginx.DefaultAdminAddr
	}
	addrs := map[spec.Color]string{spec.Blue: DefaultBlueAddr, spec.Green: DefaultGreenAddr}
	for col, a := range c.ColorAddrs {
		addrs[col] = a
	}
	c.ColorAddrs = addrs
	if c.ColorAddrs[spec.Blue] == c.ColorAddrs[spec.Green] {
		return fmt.Errorf("reconciler: blue and green both listen on %s", c.ColorAddrs[spec.Blue])
	}
	if c.Resync <= 0 {
		c.Resync = DefaultResync
	}
	if c.APIIdleTimeout <= 0 {
		c.APIIdleTimeout = DefaultAPIIdleTimeout
	}
	if c.MinFreeDisk == 0 {
		c.MinFreeDisk = DefaultMinFreeDisk
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 15 * time.Second
	}
	if c.Command == "" {
		c.Command = "reconcile"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Reconciler converges this machine to the desired state. It holds the
// state directory's lock from New to Close. Run is the daemon loop; the
// other exported actions are for a CLI acting while no daemon runs, and
// must not be called concurrently with Run (the daemon takes them through
// its API, see Do).
type Reconciler struct {
	cfg     Config
	log     *slog.Logger
	lock    *Lock
	state   *State
	history *History
	events  *EventLog
	proxy   *nginx.Proxy
	client  *modelclient.Client
	sums    *sumCache
	metrics *metrics
	quality *quality.Gate

	driversMu sync.Mutex
	drivers   map[string]driver.Driver
	gates     map[driver.Driver]*quality.Gate // quality gates of drivers with their own transport

	requests chan request
	wake     chan struct{}
	passes   atomic.Int64 // reconcile passes the daemon loop finished

	mu       sync.Mutex // guards the fields below, read by API handlers
	snapshot StatusReport
	cancel   context.CancelCauseFunc // of the deploy running now
	running  *deploy
	runDone  chan struct{} // closed when the deploy running now has finished
	aborted  string        // id of a deploy a rollback request aborted

	blindSince  time.Time            // since when a runtime cannot be observed (waitSight)
	healBackoff map[string]time.Time // self-heal reason -> not before
	healFails   map[string]int
	lastDesired Desired
	lastObs     observation // guarded by mu
}

// New takes the state directory's lock, loads state.json and prepares
// nginx and the drivers. It fails with a *LockedError when another zdml
// holds the lock.
func New(cfg Config) (*Reconciler, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	cfg.StateDir = dir
	lock, err := AcquireLock(dir, Holder{PID: os.Getpid(), Command: cfg.Command, APIAddr: cfg.APIAddr})
	if err != nil {
		return nil, err
	}
	r, err := newLocked(cfg, lock)
	if err != nil {
		lock.Release()
		return nil, err
	}
	return r, nil
}

func newLocked(cfg Config, lock *Lock) (*Reconciler, error) {
	st, err := LoadState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	runner := cfg.NginxRunner
	if runner == nil {
		if runner, err = nginx.NewLocal(filepath.Join(cfg.StateDir, "nginx"), nginx.WithLocalLogger(log.With("component", "nginx"))); err != nil {
			return nil, err
		}
	}
	events, err := OpenEventLog(cfg.StateDir, log)
	if err != nil {
		return nil, err
	}
	r := &Reconciler{cfg: cfg, log: log, lock: lock, state: st, history: NewHistory(cfg.StateDir), events: events,
		proxy: nginx.NewProxy(runner, nginx.WithLogger(log.With("component", "nginx"))), client: modelclient.New(),
		sums: newSumCache(), metrics: newMetrics(cfg.Registry), quality: newQualityGate(cfg), drivers: map[string]driver.Driver{},
		requests: make(chan request), wake: make(chan struct{}, 1),
		healBackoff: map[string]time.Time{}, healFails: map[string]int{}}
	r.publish(observation{})
	return r, nil
}

// Close releases the lock and closes the event log. Colors and nginx keep
// running: they serve without the reconciler.
func (r *Reconciler) Close() error {
	var err error
	if r.events != nil {
		err = r.events.Close()
	}
	if lerr := r.lock.Release(); err == nil {
		err = lerr
	}
	return err
}

// Proxy returns the nginx proxy the reconciler drives.
func (r *Reconciler) Proxy() *nginx.Proxy { return r.proxy }

// StateDir returns the absolute state directory.
func (r *Reconciler) StateDir() string { return r.cfg.StateDir }

// driver returns the driver for a runtime, building it on first use. The
// driver of runtime kubernetes is configured by the revision that names
// that runtime (kubeRevision: its spec.kubernetes and metadata.name), and
// built again when they change.
func (r *Reconciler) driver(runtime string) (driver.Driver, error) {
	if runtime == "" {
		runtime = spec.RuntimeProcess
	}
	cfg := driver.Config{StateDir: r.cfg.StateDir, Modelserver: r.cfg.Modelserver,
		ModelsDir: r.cfg.ModelsDir, Log: r.log.With("runtime", runtime)}
	key := runtime
	if runtime == spec.RuntimeKubernetes {
		rev := r.kubeRevision()
		if rev == nil {
			return nil, errors.New("runtime kubernetes: no desired or recorded revision configures spec.kubernetes")
		}
		cfg.App, cfg.Kubernetes = rev.App, rev.Spec.Kubernetes
		b, _ := json.Marshal(struct {
			App string
			K   *spec.Kubernetes
		}{rev.App, rev.Spec.Kubernetes})
		key += " " + string(b)
	}
	r.driversMu.Lock()
	defer r.driversMu.Unlock()
	if d, ok := r.drivers[key]; ok {
		return d, nil
	}
	d, err := NewDriver(runtime, cfg, r.cfg.Kubernetes...)
	if err != nil {
		return nil, err
	}
	r.drivers[key] = d
	return d, nil
}

// kubeRevision is the revision that configures runtime kubernetes: the
// target of the deploy in progress, else the deployed one, the desired
// one or the one before, whichever first names that runtime.
func (r *Reconciler) kubeRevision() *Revision {
	for _, rev := range []*Revision{r.progressTarget(), r.state.Deployed, r.state.Desired, r.state.Previous} {
		if rev != nil && rev.Spec != nil && rev.Spec.Runtime == spec.RuntimeKubernetes && rev.Spec.Kubernetes != nil {
			return rev
		}
	}
	return nil
}

// colorDriver is the driver a color was last started with.
func (r *Reconciler) colorDriver(c spec.Color) (driver.Driver, error) {
	rt := spec.RuntimeProcess
	if cs := r.state.Colors[c]; cs != nil && cs.Runtime != "" {
		rt = cs.Runtime
	}
	return r.driver(rt)
}

// saveState writes state.json; a failure is logged, since the next save
// retries and observation does not depend on it.
func (r *Reconciler) saveState() {
	if err := r.saveStateErr(); err != nil {
		r.log.Error("save state", "err", err)
	}
}

// saveStateErr writes state.json and returns why it could not: a step
// that records before it acts stops when the record fails. A state
// directory that cannot be written (a full disk, a read-only mount) is a
// failure of the environment: the deploy is retried, not quarantined.
func (r *Reconciler) saveStateErr() error {
	if err := r.state.Save(r.cfg.StateDir); err != nil {
		return transient(TransientState, fmt.Errorf("record state: %w", err))
	}
	return nil
}

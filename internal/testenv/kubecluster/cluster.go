// Package kubecluster runs a real single-node Kubernetes cluster on this
// machine for tests and benchmarks: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler on the host, and a node of
// containerd (Debian's, a second instance with its own socket, root and
// state), runc, Debian's CNI plugins, the kubelet and kube-proxy in a
// network namespace of its own. The Kubernetes binaries are built from the
// Go module proxy once per machine (hack/kubernetes); images are built
// here and imported, never pulled.
//
// A test gets a cluster with Shared (one per test binary, stopped by Main)
// or Start (its own, stopped at the test's end). make kube-up and
// kube-down run one by hand (cmd/kubecluster).
package kubecluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
)

// Options configure New.
type Options struct {
	// RepoRoot is the checkout (for hack/kubernetes/build.sh and the pause
	// command's source).
	RepoRoot string
	// Dir holds everything of the cluster; it must not exist or be empty.
	// Empty: a new directory under os.TempDir, removed by Stop.
	Dir string
	// Detached clusters outlive the process that started them (kube-up);
	// otherwise the kernel kills the cluster's processes when it dies.
	Detached bool
	// Log receives progress; Progress the binaries' build output.
	Log      *slog.Logger
	Progress io.Writer
}

// Cluster is a running cluster.
type Cluster struct {
	layout
	// Kubeconfig is an admin (system:masters) kubeconfig for the cluster.
	Kubeconfig string `json:"kubeconfig"`
	// BinDir holds the Kubernetes binaries it runs.
	BinDir string `json:"binDir"`
	// Pids are its processes by component name.
	Pids map[string]int `json:"pids"`
	// Took is how long each step of New took.
	Took map[string]time.Duration `json:"took"`

	// Config and Client reach the API server as admin.
	Config *rest.Config         `json:"-"`
	Client kubernetes.Interface `json:"-"`

	procs []*process
	log   *slog.Logger
}

// stateFile is where a cluster records itself for Load (kube-down).
const stateFile = "cluster.json"

// New starts a cluster and returns once its node is Ready and the default
// namespace's service account exists (so pods can be created). On error
// everything started is torn down.
func New(ctx context.Context, opts Options) (c *Cluster, err error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	c = &Cluster{Pids: map[string]int{}, Took: map[string]time.Duration{}, log: log}
	t0 := time.Now()
	step := func(name string) func() {
		s := time.Now()
		return func() { c.Took[name] = time.Since(s) }
	}

	done := step("binaries")
	if c.BinDir, err = EnsureBinaries(opts.RepoRoot, progress); err != nil {
		return nil, err
	}
	done()
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "zdml-kube-"); err != nil {
			return nil, fmt.Errorf("kubecluster: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kubecluster: %w", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("kubecluster: %w", err)
	}
	if c.layout, err = claimSlot(dir, os.Getpid(), log); err != nil {
		return nil, err
	}
	log.Info("kubecluster: starting", "dir", dir, "slot", c.Slot, "api", c.apiserverURL())
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.logTails())
			if terr := c.Stop(); terr != nil {
				err = errors.Join(err, fmt.Errorf("teardown: %w", terr))
			}
			c = nil
		}
	}()

	done = step("network, certificates, configs")
	_ = teardownNetwork(c.layout) // a namespace left by a crashed run in this slot
	if err := setupNetwork(c.layout); err != nil {
		return c, err
	}
	if err := c.writeFiles(); err != nil {
		return c, err
	}
	pause := c.path("pause.tar")
	if err := buildPause(opts.RepoRoot, pause); err != nil {
		return c, err
	}
	done()

	done = step("control plane ready")
	bin := c.BinDir
	for _, comp := range []component{etcd(c.layout, bin), apiserver(c.layout, bin), containerd(c.layout)} {
		if err := c.start(comp, opts.Detached); err != nil {
			return c, err
		}
	}
	if opts.Detached {
		// The cluster lives as long as its API server, not as this process.
		if err := setOwner(c.layout, c.Pids["kube-apiserver"]); err != nil {
			return c, err
		}
	}
	if err := c.connect(); err != nil {
		return c, err
	}
	if err := c.wait(ctx, "the API server to be ready", 90*time.Second, c.apiReady); err != nil {
		return c, err
	}
	// After readyz the RBAC bootstrap roles they authorize with exist.
	for _, comp := range []component{controllerManager(c.layout, bin), scheduler(c.layout, bin)} {
		if err := c.start(comp, opts.Detached); err != nil {
			return c, err
		}
	}
	done()

	done = step("node ready")
	if err := c.wait(ctx, "containerd to import the pause image", 60*time.Second, func(context.Context) error {
		return importArchive(c.layout, pause)
	}); err != nil {
		return c, err
	}
	if err := saveSysctls(); err != nil {
		return c, err
	}
	if err := createCgroups(c.layout); err != nil {
		return c, err
	}
	for _, comp := range []component{kubelet(c.layout, bin), kubeProxy(c.layout, bin)} {
		if err := c.start(comp, opts.Detached); err != nil {
			return c, err
		}
	}
	if err := c.wait(ctx, "the node to be Ready", 120*time.Second, c.nodeReady); err != nil {
		return c, err
	}
	if err := c.wait(ctx, "the default service account", 60*time.Second, c.defaultServiceAccount); err != nil {
		return c, err
	}
	done()
	c.Took["total"] = time.Since(t0)
	if err := c.save(); err != nil {
		return c, err
	}
	log.Info("kubecluster: ready", "kubeconfig", c.Kubeconfig, "took", c.Took["total"].Round(time.Millisecond))
	return c, nil
}

// writeFiles writes the certificates, kubeconfigs and component configs.
func (c *Cluster) writeFiles() error {
	p, err := newPKI(c.path("pki"))
	if err != nil {
		return err
	}
	for _, id := range c.identities() {
		if err := p.issue(id); err != nil {
			return err
		}
	}
	if err := p.serviceAccountKeys(); err != nil {
		return err
	}
	c.Kubeconfig = c.path("admin.kubeconfig")
	kubeconfigs := map[string]string{
		c.Kubeconfig: "admin",
		c.path("kube-controller-manager.kubeconfig"): "kube-controller-manager",
		c.path("kube-scheduler.kubeconfig"):          "kube-scheduler",
		c.path("kube-proxy.kubeconfig"):              "kube-proxy",
		c.path("kubelet.kubeconfig"):                 "kubelet-client",
	}
	for path, user := range kubeconfigs {
		if err := writeKubeconfig(path, c.apiserverURL(), p, user); err != nil {
			return err
		}
	}
	return writeConfigs(c.layout)
}

func (c *Cluster) start(comp component, detached bool) error {
	p, err := start(c.layout, comp, detached)
	if err != nil {
		return fmt.Errorf("kubecluster: %w", err)
	}
	c.procs = append(c.procs, p)
	c.Pids[comp.name] = p.pid
	return nil
}

// connect builds the admin client from the kubeconfig.
func (c *Cluster) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubecluster: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubecluster: %w", err)
	}
	c.Config, c.Client = cfg, cs
	return nil
}

// Stop tears the cluster down (teardown.go) and frees its slot.
func (c *Cluster) Stop() error {
	procs := c.procs
	if procs == nil { // loaded from cluster.json: not our children
		for _, name := range startOrder {
			if pid, ok := c.Pids[name]; ok {
				procs = append(procs, &process{component: component{name: name}, pid: pid})
			}
		}
	}
	err := teardown(c.layout, procs, c.logger())
	c.procs = nil
	c.Pids = map[string]int{}
	if rerr := releaseSlot(c.layout); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if serr := restoreSysctls(); serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}

// startOrder is the order New starts the components in.
var startOrder = []string{"etcd", "kube-apiserver", "containerd", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"}

func (c *Cluster) logger() *slog.Logger {
	if c.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.log
}

// save records the cluster in its directory for Load.
func (c *Cluster) save() error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("kubecluster: %w", err)
	}
	return atomicfile.WriteFile(c.path(stateFile), b, 0o644)
}

// Load reads the cluster New started in dir (for kube-down, or a bench
// using a cluster started by kube-up) and connects to it.
func Load(dir string, log *slog.Logger) (*Cluster, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("kubecluster: %w", err)
	}
	c := &Cluster{log: log}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("kubecluster: %s: %w", filepath.Join(dir, stateFile), err)
	}
	if err := c.connect(); err != nil {
		return nil, err
	}
	return c, nil
}

// logTails is the end of every component's log, for an error message.
func (c *Cluster) logTails() string {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "--- %s (%s) ---\n%s\n", p.name, c.path("logs", p.name+".log"), logTail(c.layout, p.name, 15))
	}
	return b.String()
}

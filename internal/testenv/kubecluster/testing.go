package kubecluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// Start starts a cluster of the test's own, torn down when the test ends.
// It never skips: a missing part fails the test (make test installs them).
func Start(t testing.TB) *Cluster {
	t.Helper()
	c, err := New(context.Background(), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("kubecluster: stop: %v", err)
		}
	})
	return c
}

var shared struct {
	sync.Mutex
	main    bool
	cluster *Cluster
	err     error
}

// Shared returns the test binary's one cluster, starting it on first use.
// The package's TestMain must be Main, which stops it after the tests.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if !shared.main {
		t.Fatal("kubecluster.Shared needs func TestMain(m *testing.M) { kubecluster.Main(m) } in the test package")
	}
	if shared.cluster == nil && shared.err == nil {
		opts := testOptions(t)
		// The cluster outlives this test: log to stderr, not through t.
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		shared.cluster, shared.err = New(context.Background(), opts)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster
}

// Main runs the tests, stops the shared cluster and exits.
func Main(m *testing.M) {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	if c := shared.cluster; c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "kubecluster: stop: %v\n", err)
			code = 1
		}
	}
	shared.Unlock()
	os.Exit(code)
}

func testOptions(t testing.TB) Options {
	return Options{
		RepoRoot: testenv.RepoRoot(t),
		Log:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Progress: os.Stderr, // a cold build takes minutes: show it
	}
}

// testWriter logs through the test that first asked.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// Namespace creates a namespace for the test (named after it), deleted when
// the test ends, so tests sharing a cluster do not see each other's objects.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%100000)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubecluster: namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	if err := c.wait(ctx, "namespace "+name+"'s service account", 60*time.Second, func(ctx context.Context) error {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return name
}

// ServiceCIDR and PodCIDR are the cluster's address ranges; the host
// routes both to the node.
func (c *Cluster) ServiceCIDR() string { return c.serviceCIDR() }
func (c *Cluster) PodCIDR() string     { return c.podCIDR() }

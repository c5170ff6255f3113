package nginx

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/spec"
)

// TestMain lets the test binary double as the starter process of
// TestNginxOutlivesItsStarter.
func TestMain(m *testing.M) {
	if raw := os.Getenv(helperEnv); raw != "" {
		os.Exit(starterMain(raw))
	}
	os.Exit(m.Run())
}

// backend is a stand-in model server: it answers every path with its color
// in X-Model-Color, like the real one does.
func backend(t testing.TB, color spec.Color, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Model-Color", string(color))
		w.Header().Set("X-Model-Version", "v-"+string(color))
		if h != nil {
			h(w, r)
			return
		}
		fmt.Fprintf(w, "%s\n", color)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// startedProxy is newTestProxy with nginx started on the Config.
func startedProxy(t testing.TB, blue, green *httptest.Server) (*Proxy, *Local, Config) {
	t.Helper()
	p, local, cfg := newTestProxy(t, blue, green)
	if _, err := p.Ensure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return p, local, cfg
}

// newTestProxy returns a Proxy on a real nginx in a temporary directory,
// and a Config on free ports pointing at the given backends. The nginx is
// stopped when the test ends.
func newTestProxy(t testing.TB, blue, green *httptest.Server) (*Proxy, *Local, Config) {
	t.Helper()
	bin := testenv.LookPath(t, "nginx", "nginx")
	local, err := NewLocal(t.TempDir(), WithBinary(bin))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNginx(t, local) })
	cfg := Config{
		PublicAddr: testenv.FreeAddr(t),
		AdminAddr:  testenv.FreeAddr(t),
		Upstreams:  map[spec.Color]string{},
		Active:     spec.Blue,
		Workers:    2,
	}
	if blue != nil {
		cfg.Upstreams[spec.Blue] = blue.Listener.Addr().String()
	}
	if green != nil {
		cfg.Upstreams[spec.Green] = green.Listener.Addr().String()
	}
	return NewProxy(local, WithCallTimeout(10*time.Second)), local, cfg
}

func stopNginx(t testing.TB, r Runner) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Errorf("stop nginx: %v", err)
	}
}

// currentWorkers lists the pids of the workers accepting connections.
func currentWorkers(t testing.TB, l *Local) []int {
	t.Helper()
	ws, err := l.Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return current(ws)
}

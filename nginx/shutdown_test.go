package nginx

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// ticker is an SSE backend that sends one event every 100 ms for length,
// then [DONE]: a long generation, scaled down.
func ticker(length time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i := 0; time.Duration(i)*100*time.Millisecond < length; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			fl.Flush()
			select {
			case <-time.After(100 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}
}

// TestWorkerShutdownTimeoutFollowsConfig: a stream that runs 4.5 s past a
// reload is cut by an old worker at the configured worker_shutdown_timeout
// of 3 s, and carried to its end with 6 s: the timeout follows the config
// (so the caller's drainTimeout + margin holds), whatever the default says.
func TestWorkerShutdownTimeoutFollowsConfig(t *testing.T) {
	const stream = 4500 * time.Millisecond
	for _, tc := range []struct {
		timeout time.Duration
		done    bool
	}{{3 * time.Second, false}, {6 * time.Second, true}} {
		t.Run(tc.timeout.String(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, _, cfg := newTestProxy(t, backend(t, spec.Blue, ticker(stream)), backend(t, spec.Green, nil))
			cfg.WorkerShutdownTimeout = tc.timeout
			if _, err := p.Ensure(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			_, r := openStream(t, ctx, cfg.PublicAddr)
			if got := nextEvent(t, r); got != "0" {
				t.Fatalf("first event %q", got)
			}
			cfg.Active = spec.Green
			if got, err := p.Ensure(ctx, cfg); err != nil || got != Reloaded {
				t.Fatalf("reload mid-stream: %v, %v", got, err)
			}
			reloaded := time.Now()
			last := ""
			for last != "[DONE]" && !isReadError(last) {
				last = nextEvent(t, r)
			}
			after := time.Since(reloaded)
			t.Logf("worker_shutdown_timeout %s: stream ended %q %s after the reload", tc.timeout, last, after.Round(10*time.Millisecond))
			if (last == "[DONE]") != tc.done {
				t.Fatalf("worker_shutdown_timeout %s: the stream ended with %q after %s; want done %v", tc.timeout, last, after, tc.done)
			}
			if !tc.done && (after < tc.timeout-500*time.Millisecond || after > tc.timeout+time.Second) {
				t.Errorf("cut %s after the reload, want about %s", after, tc.timeout)
			}
		})
	}
}

// isReadError tells nextEvent's report of a broken stream from an event.
func isReadError(event string) bool { return strings.HasPrefix(event, "error: ") }

func TestWorkerShutdownTimeoutFor(t *testing.T) {
	if got := WorkerShutdownTimeoutFor(300 * time.Second); got != 330*time.Second {
		t.Errorf("WorkerShutdownTimeoutFor(300s) = %s, want 330s", got)
	}
	if got := WorkerShutdownTimeoutFor(spec.DefaultDrainTimeout); got != DefaultWorkerShutdownTimeout {
		t.Errorf("WorkerShutdownTimeoutFor(default drain) = %s, want the default %s", got, DefaultWorkerShutdownTimeout)
	}
	text, _, err := Render(Config{Upstreams: map[spec.Color]string{spec.Blue: "127.0.0.1:8000"}, Active: spec.Blue,
		WorkerShutdownTimeout: WorkerShutdownTimeoutFor(300 * time.Second)})
	if err != nil || !strings.Contains(string(text), "\nworker_shutdown_timeout 330s;\n") {
		t.Errorf("rendered config lacks worker_shutdown_timeout 330s (err %v)", err)
	}
	if got, ok := WorkerShutdownTimeoutOf(text); !ok || got != 330*time.Second {
		t.Errorf("WorkerShutdownTimeoutOf(rendered) = %s %v, want 330s", got, ok)
	}
	for _, tc := range []struct {
		name, conf string
		want       time.Duration
		ok         bool
	}{
		{"milliseconds", "worker_processes 2;\nworker_shutdown_timeout 1500ms;\n", 1500 * time.Millisecond, true},
		{"none", "worker_processes 2;\n", 0, false},
		{"commented out", "# worker_shutdown_timeout 10s;\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := WorkerShutdownTimeoutOf([]byte(tc.conf)); got != tc.want || ok != tc.ok {
				t.Errorf("got %s %v, want %s %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

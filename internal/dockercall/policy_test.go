package dockercall

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// daemon is an HTTP server speaking just enough of the Engine API for a
// real Docker client: handle answers /_ping, and counts the requests.
func daemon(t *testing.T, handle http.HandlerFunc) (host string, requests *atomic.Int32) {
	requests = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return "tcp://" + srv.Listener.Addr().String(), requests
}

// closedHost is an address nothing listens on: every dial is refused.
func closedHost(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "tcp://" + addr
}

func ping(t *testing.T, host string) func(ctx context.Context) error {
	c, err := client.NewClientWithOpts(client.WithHost(host), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func(ctx context.Context) error { _, err := c.Ping(ctx); return err }
}

func TestDo(t *testing.T) {
	ok, okReqs := daemon(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
	failing, failReqs := daemon(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"boom"}`, http.StatusInternalServerError)
	})
	hung, hungReqs := daemon(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	down := closedHost(t)
	tests := []struct {
		name        string
		host        string
		requests    *atomic.Int32
		want        string // "" for success
		unavailable bool
		wantReqs    int32
	}{
		{name: "answers", host: ok, requests: okReqs, wantReqs: 1},
		{name: "error is not retried", host: failing, requests: failReqs, want: "docker ping: ", wantReqs: 1},
		{name: "hung is cut off, not retried", host: hung, requests: hungReqs, want: "no answer within 200ms", unavailable: true, wantReqs: 1},
		{name: "down is retried, then named", host: down, want: "docker ping: 3 tries: docker daemon unavailable (is dockerd running? DOCKER_HOST=" + down + ")", unavailable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Timeout: 200 * time.Millisecond, Tries: 3, Backoff: 10 * time.Millisecond, Host: tt.host}
			start := time.Now()
			err := p.Do(t.Context(), "ping", ping(t, tt.host))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Do = %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Do = %v; want an error saying %q", err, tt.want)
			}
			if got := errors.Is(err, ErrUnavailable); got != tt.unavailable {
				t.Errorf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tt.unavailable)
			}
			if tt.requests != nil && tt.requests.Load() != tt.wantReqs {
				t.Errorf("daemon saw %d requests, want %d", tt.requests.Load(), tt.wantReqs)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Do took %s", d)
			}
		})
	}
}

// A caller's cancellation ends the retries at once, with its cause.
func TestDoCanceledWhileRetrying(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	p := Policy{Timeout: time.Second, Tries: 100, Backoff: time.Hour}
	start := time.Now()
	err := p.Do(ctx, "ping", ping(t, closedHost(t)))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
		t.Errorf("Do = %v; want the caller's deadline, not ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Do took %s after the caller gave up", d)
	}
}

package reconciler

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The client takes the API as host:port (zdml's --api-addr) or as a base
// URL (the load harness's --api), and reads the same status either way.
func TestClientAddrForms(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(StatusReport{SyncState: "synced", ActiveVersion: "v2",
			LastDeploy: &DeploySummary{ID: "d1", Outcome: OutcomeSucceeded}})
	}))
	defer srv.Close()
	hostport := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct{ name, addr string }{
		{name: "host:port", addr: hostport},
		{name: "url", addr: srv.URL},
		{name: "url with slash", addr: srv.URL + "/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewClient(tt.addr).Status(t.Context())
			if err != nil || got.SyncState != "synced" || got.ActiveVersion != "v2" || got.LastDeploy == nil || got.LastDeploy.ID != "d1" {
				t.Errorf("Status() = %+v, %v; want synced on v2 after d1", got, err)
			}
		})
	}
	_, err := NewClient(hostport).History(t.Context(), 1)
	if err == nil || !strings.Contains(err.Error(), "reconciler api "+hostport+"/history?n=1: 404") {
		t.Errorf("History from a server without it: %v; want an error naming the address, path and status", err)
	}
}

// A client that keeps its connection to the API alive and forgets it (the
// soak's harness did, once per deploy: the daemon went from 17 to 37 open
// files) must not pin a file and a goroutine in the daemon for good.
func TestAPIClosesIdleConnections(t *testing.T) {
	r, err := New(Config{StateDir: t.TempDir(), APIIdleTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.ServeAPI(t.Context(), ln, prometheus.NewRegistry()) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /status HTTP/1.1\r\nHost: zdml\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /status: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	// Idle now: the server must close it, long before this deadline.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	t0 := time.Now()
	_, err = br.ReadByte()
	if !errors.Is(err, io.EOF) {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the API kept an idle connection open for %s", time.Since(t0).Round(time.Millisecond))
		}
		t.Fatalf("reading an idle connection: %v; want EOF (closed by the server)", err)
	}
}

package loadgen

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
)

// The harness waits for the deploy it committed, read from the
// reconciler's own status report: not while progressing, not an older
// deploy, and a succeeded one only once the new version serves.
func TestDeployOutcome(t *testing.T) {
	since := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	done := func(outcome string, at time.Time) *reconciler.DeploySummary {
		return &reconciler.DeploySummary{ID: "d", Outcome: outcome, FromVersion: "v1", ToVersion: "v2", FinishedAt: at}
	}
	tests := []struct {
		name       string
		st         reconciler.StatusReport
		wantDone   bool
		wantResult string
	}{
		{name: "progressing", st: reconciler.StatusReport{SyncState: "progressing", LastDeploy: done("succeeded", since.Add(time.Second))}},
		{name: "older deploy", st: reconciler.StatusReport{SyncState: "synced", ActiveVersion: "v2", LastDeploy: done("succeeded", since.Add(-time.Second))}},
		{name: "succeeded, old version still serves", st: reconciler.StatusReport{SyncState: "synced", ActiveVersion: "v1", LastDeploy: done("succeeded", since.Add(time.Second))}},
		{name: "other commit", st: reconciler.StatusReport{SyncState: "synced", ActiveVersion: "v2", DesiredCommit: "fedcba987654", LastDeploy: done("succeeded", since.Add(time.Second))}},
		{name: "succeeded", st: reconciler.StatusReport{SyncState: "synced", ActiveColor: "green", ActiveVersion: "v2", DesiredCommit: "abcdef1234567890", LastDeploy: done("succeeded", since.Add(time.Second))},
			wantDone: true, wantResult: "succeeded"},
		{name: "retrying: a failed attempt tried again later", st: reconciler.StatusReport{SyncState: "retrying", ActiveColor: "blue", ActiveVersion: "v1",
			LastDeploy: done("rolled_back", since.Add(time.Second))}},
		{name: "rolled back", st: reconciler.StatusReport{SyncState: "degraded", ActiveColor: "blue", ActiveVersion: "v1", LastDeploy: done("rolled_back", since.Add(time.Second))},
			wantDone: true, wantResult: "rolled_back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := deployOutcome(tt.st, "abcdef1", "v2", since)
			if ok != tt.wantDone || got.Result != tt.wantResult {
				t.Fatalf("deployOutcome = %+v, %v; want done %v with %q", got, ok, tt.wantDone, tt.wantResult)
			}
			if ok && (got.ActiveColor != string(tt.st.ActiveColor) || got.Active != tt.st.ActiveVersion || got.FromVersion != "v1") {
				t.Errorf("outcome %+v does not carry the status's active color and versions", got)
			}
		})
	}
}

// TestWaitSharesOneConnection: every deploy's Wait asks the reconciler's
// API through one keep-alive client. A client per Wait left an idle
// connection open at the daemon after each deploy: a 30-minute soak of
// 20 deploys measured the reconciler's open files going 17 → 37 and its
// goroutines 16 → 35, one of each per deploy.
func TestWaitSharesOneConnection(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reconciler.StatusReport{SyncState: "synced", ActiveVersion: "v2",
			LastDeploy: &reconciler.DeploySummary{Outcome: "succeeded", FinishedAt: time.Now()}}
		_ = json.NewEncoder(w).Encode(st)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	g := &GitOps{APIURL: srv.URL}
	for i := range 5 {
		if _, err := g.Wait(context.Background(), "", "v2", time.Now().Add(-time.Minute)); err != nil {
			t.Fatalf("wait %d: %v", i, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 waits opened %d connections to the API, want 1 kept alive", n)
	}
}

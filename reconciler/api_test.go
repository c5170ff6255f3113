package reconciler

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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

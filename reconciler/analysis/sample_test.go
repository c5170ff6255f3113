package analysis

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// TestScrapeRealServer reads a real model server's /metrics: user
// requests are counted (health and metrics requests are not), a 4xx is not
// an error, and the window between two scrapes holds exactly the requests
// sent in between.
func TestScrapeRealServer(t *testing.T) {
	addr := testenv.StartModelServer(t, "tiny.gguf", "--color", "green", "--model-version", "v2").Addr
	ctx := context.Background()
	before, err := Scrape(ctx, http.DefaultClient, addr)
	if err != nil {
		t.Fatal(err)
	}
	if before.StartTime == 0 {
		t.Error("no process_start_time_seconds")
	}
	post := func(path, body string) int {
		resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 5; i++ {
		if code := post("/chat/alice", `{"message":"hi","max_tokens":4}`); code != 200 {
			t.Fatalf("chat: %d", code)
		}
	}
	if code := post("/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":4}`); code != 200 {
		t.Fatalf("completions: %d", code)
	}
	if code := post("/chat", `{"message":""}`); code != 400 {
		t.Fatalf("empty message: %d, want 400", code)
	}
	for i := 0; i < 3; i++ {
		resp, err := http.Get("http://" + addr + "/health/deep")
		if err == nil {
			resp.Body.Close()
		}
	}
	after, err := Scrape(ctx, http.DefaultClient, addr)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Delta(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if w.Requests != 7 || w.Errors != 0 {
		t.Errorf("window: %s, want 7 requests and 0 errors", w)
	}
	if w.Latency.Count != 7 || w.TTFT.Count != 6 || w.TPS.Count == 0 {
		t.Errorf("histograms: latency %v, ttft %v, tps %v observations; want 7, 6 and some", w.Latency.Count, w.TTFT.Count, w.TPS.Count)
	}
	if p := w.Latency.Quantile(0.95); !(p > 0 && p < 30) {
		t.Errorf("latency p95 %v", p)
	}
}

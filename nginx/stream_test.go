package nginx

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/procfs"
	"github.com/zero-downtime-ml/zdml/spec"
)

// streamer is an SSE backend that sends one event, then waits for release
// before sending the rest: if nginx buffered, the client would never see the
// first event while the stream is open.
type streamer struct {
	release chan struct{}
	events  int
}

func (s *streamer) handler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	fmt.Fprint(w, "data: 0\n\n")
	fl.Flush()
	select {
	case <-s.release:
	case <-r.Context().Done():
		return
	}
	for i := 1; i < s.events; i++ {
		fmt.Fprintf(w, "data: %d\n\n", i)
		fl.Flush()
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// openStream starts a streaming POST through nginx and returns a reader of
// its events.
func openStream(t *testing.T, ctx context.Context, addr string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/chat/completions", strings.NewReader(`{"stream":true}`))
	// As browsers do: a proxy that compresses the stream buffers it.
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %s", resp.Status)
	}
	return resp, bufio.NewReader(resp.Body)
}

// nextEvent reads one "data: X" event, failing the test if none comes
// within the deadline (a buffered stream never delivers it).
func nextEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				got <- d
				return
			}
		}
	}()
	select {
	case d := <-got:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s: the stream is buffered")
		return ""
	}
}

func TestSSEUnbuffered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &streamer{release: make(chan struct{}), events: 3}
	_, _, cfg := startedProxy(t, backend(t, spec.Blue, s.handler), nil)
	resp, r := openStream(t, ctx, cfg.PublicAddr)
	if got := nextEvent(t, r); got != "0" {
		t.Fatalf("first event %q, want 0 (before the stream ends)", got)
	}
	if got := resp.Header.Get("X-Model-Color"); got != "blue" {
		t.Errorf("X-Model-Color = %q", got)
	}
	close(s.release)
	for _, want := range []string{"1", "2", "[DONE]"} {
		if got := nextEvent(t, r); got != want {
			t.Fatalf("event %q, want %q", got, want)
		}
	}
}

// TestStreamSurvivesReload: a stream that started on blue completes on blue
// while nginx reloads to green underneath it, and new requests go to green.
func TestStreamSurvivesReload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := &streamer{release: make(chan struct{}), events: 50}
	p, local, cfg := startedProxy(t, backend(t, spec.Blue, s.handler), backend(t, spec.Green, nil))
	oldWorkers := currentWorkers(t, local)
	resp, r := openStream(t, ctx, cfg.PublicAddr)
	if got := nextEvent(t, r); got != "0" {
		t.Fatalf("first event %q", got)
	}

	cfg.Active = spec.Green
	if got, err := p.Ensure(ctx, cfg); err != nil || got != Reloaded {
		t.Fatalf("swap mid-stream: %v, %v", got, err)
	}
	if err := p.VerifyRoute(ctx, spec.Green, "v-green"); err != nil {
		t.Fatal(err)
	}
	// The old worker is still carrying the stream: not retired yet.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if err := p.WaitRetired(short); err == nil {
		t.Error("WaitRetired returned while an old worker carries a stream")
	}
	close(s.release)
	n := 1
	for ; ; n++ {
		got := nextEvent(t, r)
		if got == "[DONE]" {
			break
		}
		if got != fmt.Sprint(n) {
			t.Fatalf("event %q, want %d: the stream broke across the reload", got, n)
		}
	}
	if n != s.events || resp.Header.Get("X-Model-Color") != "blue" {
		t.Errorf("got %d events from %s, want %d from blue", n, resp.Header.Get("X-Model-Color"), s.events)
	}
	// The old worker that carried the stream now exits.
	wctx, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	if err := p.WaitRetired(wctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range oldWorkers {
		if procfs.Alive(w) {
			t.Errorf("old worker %d alive after WaitRetired", w)
		}
	}
}

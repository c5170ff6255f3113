package nginx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// counted is a backend that counts the requests and body bytes it got.
type counted struct {
	srv      *httptest.Server
	requests atomic.Int64
	bytes    atomic.Int64
}

func countedBackend(t testing.TB, color spec.Color, h http.HandlerFunc) *counted {
	c := &counted{}
	c.srv = backend(t, color, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		c.requests.Add(1)
		c.bytes.Add(n)
		if h != nil {
			h(w, r)
			return
		}
		fmt.Fprintf(w, "%s\n", color)
	})
	return c
}

// canaryProxy starts nginx on blue (stable) and green with a canary split.
func canaryProxy(t testing.TB, weight int, h http.HandlerFunc) (*Proxy, Config, *counted, *counted) {
	t.Helper()
	blue, green := countedBackend(t, spec.Blue, h), countedBackend(t, spec.Green, h)
	p, _, cfg := newTestProxy(t, blue.srv, green.srv)
	cfg.Canary = &Canary{Color: spec.Green, Weight: weight}
	if got, err := p.Ensure(context.Background(), cfg); err != nil || got != Started {
		t.Fatalf("Ensure(canary %d%%) = %v, %v", weight, got, err)
	}
	return p, cfg, blue, green
}

// setWeight changes the split with a verified reload.
func setWeight(t testing.TB, p *Proxy, cfg *Config, weight int) {
	t.Helper()
	cfg.Canary = &Canary{Color: cfg.Canary.Color, Weight: weight}
	if got, err := p.Ensure(context.Background(), *cfg); err != nil || got != Reloaded {
		t.Fatalf("Ensure(weight %d) = %v, %v; want reloaded", weight, got, err)
	}
}

// call is one request through the public listener.
type call struct {
	method, path string
	header       http.Header
	body         []byte
	chunked      bool // send the body without a Content-Length
}

// chatCall is an OpenAI chat completion, with a "user" field when user is set.
func chatCall(user string) call {
	req := map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": "hi"}}}
	if user != "" {
		req["user"] = user
	}
	b, _ := json.Marshal(req)
	return call{method: http.MethodPost, path: "/v1/chat/completions", body: b}
}

func (c call) with(k, v string) call {
	h := c.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(k, v)
	c.header = h
	return c
}

// do sends c and returns the status and the color that answered.
func (c call) do(client *http.Client, addr string) (int, spec.Color, error) {
	var body io.Reader = bytes.NewReader(c.body)
	if c.chunked {
		body = io.MultiReader(bytes.NewReader(c.body)) // no Len: Go sends it chunked
	}
	req, err := http.NewRequest(c.method, "http://"+addr+c.path, body)
	if err != nil {
		return 0, "", err
	}
	req.Header = c.header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, "", err
	}
	return resp.StatusCode, spec.Color(resp.Header.Get("X-Model-Color")), nil
}

// mustColor sends c and returns the color, failing on anything but a 200.
func mustColor(t testing.TB, client *http.Client, addr string, c call) spec.Color {
	t.Helper()
	code, color, err := c.do(client, addr)
	if err != nil || code != http.StatusOK {
		t.Fatalf("%s %s: %d, %v", c.method, c.path, code, err)
	}
	return color
}

// keepAliveClient is Go's default transport with an idle pool for n
// concurrent clients: connections are reused whenever nginx allows it.
func keepAliveClient(t testing.TB, n int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = n
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// share sends n requests from 8 concurrent clients, cycling through calls,
// and returns the fraction that the canary color answered.
func share(t testing.TB, addr string, canary spec.Color, n int, calls ...call) float64 {
	t.Helper()
	client := keepAliveClient(t, 8)
	var hits, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				code, color, err := calls[i%len(calls)].do(client, addr)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("status %d", code)
				}
				if err != nil {
					errs <- err
					return
				}
				done.Add(1)
				if color == canary {
					hits.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return float64(hits.Load()) / float64(done.Load())
}

// TestCanaryShare: requests without a user id reach the canary in the
// proportion of its weight, within 3 points, at 10 % and at 50 %.
// 4,000 requests put 3 points at 7.5 standard deviations at 10 % and 3.8
// at 50 %.
func TestCanaryShare(t *testing.T) {
	p, cfg, _, _ := canaryProxy(t, 10, nil)
	anonymous := []call{chatCall(""), {method: http.MethodPost, path: "/chat", body: []byte(`{"message":"hi"}`)},
		{method: http.MethodGet, path: "/v1/models"}}
	for _, weight := range []int{10, 50} {
		if cfg.Canary.Weight != weight {
			setWeight(t, p, &cfg, weight)
		}
		got := share(t, cfg.PublicAddr, spec.Green, 4000, anonymous...)
		t.Logf("weight %d%%: canary share %.2f%% of 4000 requests without a user id", weight, 100*got)
		if math.Abs(100*got-float64(weight)) > 3 {
			t.Errorf("weight %d%%: canary share %.2f%%, want within 3 points", weight, 100*got)
		}
	}
}

// idCall returns the call that carries user id u by the given source.
func idCall(source, u string) call {
	switch source {
	case "path":
		return call{method: http.MethodPost, path: "/chat/" + u, body: []byte(`{"message":"hi"}`)}
	case "header":
		return call{method: http.MethodPost, path: "/chat", body: []byte(`{"message":"hi"}`)}.with(HeaderUserID, u)
	case "header-openai":
		return chatCall("").with(HeaderUserID, u)
	default: // body
		return chatCall(u)
	}
}

// TestCanarySticky: every request of one user id lands on one color, for
// each source of the id; the same id from any source lands on the same
// color; and ids spread across colors by the weight.
func TestCanarySticky(t *testing.T) {
	const weight, users = 30, 300
	_, cfg, _, _ := canaryProxy(t, weight, nil)
	client := keepAliveClient(t, 1)
	sources := []string{"path", "header", "header-openai", "body"}
	onCanary := 0
	for i := range users {
		u := fmt.Sprintf("user_%d", i)
		var first spec.Color
		for _, src := range sources {
			for range 2 {
				got := mustColor(t, client, cfg.PublicAddr, idCall(src, u))
				if first == "" {
					first = got
				}
				if got != first {
					t.Fatalf("user %s by %s: %s, earlier %s: the conversation hopped colors", u, src, got, first)
				}
			}
		}
		if first == spec.Green {
			onCanary++
		}
	}
	pct := 100 * float64(onCanary) / users
	t.Logf("weight %d%%: %d of %d user ids (%.1f%%) on the canary", weight, onCanary, users, pct)
	if math.Abs(pct-weight) > 10 { // 3.8 standard deviations for 300 ids
		t.Errorf("%.1f%% of user ids on the canary at weight %d%%", pct, weight)
	}
}

// TestCanaryStickyAcrossWeights: raising the weight moves users only from
// stable to canary, never back (the canary's range comes first in the hash).
func TestCanaryStickyAcrossWeights(t *testing.T) {
	p, cfg, _, _ := canaryProxy(t, 10, nil)
	client := keepAliveClient(t, 1)
	onCanary := map[string]bool{}
	for _, weight := range []int{10, 50, 90} {
		if cfg.Canary.Weight != weight {
			setWeight(t, p, &cfg, weight)
		}
		n := 0
		for i := range 200 {
			u := fmt.Sprintf("u%d", i)
			canary := mustColor(t, client, cfg.PublicAddr, idCall("header", u)) == spec.Green
			if onCanary[u] && !canary {
				t.Errorf("weight %d%%: user %s moved back from the canary", weight, u)
			}
			onCanary[u] = canary
			if canary {
				n++
			}
		}
		t.Logf("weight %d%%: %d of 200 users on the canary", weight, n)
	}
}

// TestCanaryPin: X-Canary: always|never overrides weight and user id, at
// 0, 50 and 100 %; health routes follow only the pin; the admin listener
// and Observe report the split.
func TestCanaryPin(t *testing.T) {
	ctx := context.Background()
	p, cfg, _, _ := canaryProxy(t, 0, nil)
	client := keepAliveClient(t, 1)
	for _, weight := range []int{0, 50, 100} {
		if cfg.Canary.Weight != weight {
			setWeight(t, p, &cfg, weight)
		}
		for _, tc := range []struct {
			name string
			c    call
			want spec.Color
		}{
			{"always", chatCall("").with(HeaderCanary, "always"), spec.Green},
			{"ALWAYS", chatCall("").with(HeaderCanary, "ALWAYS"), spec.Green},
			{"never", chatCall("").with(HeaderCanary, "never"), spec.Blue},
			{"always beats the path id", idCall("path", "u1").with(HeaderCanary, "always"), spec.Green},
			{"never beats the body id", chatCall("u2").with(HeaderCanary, "never"), spec.Blue},
			{"health always", call{method: http.MethodGet, path: "/healthz"}.with(HeaderCanary, "always"), spec.Green},
			{"ready always", call{method: http.MethodGet, path: "/ready"}.with(HeaderCanary, "always"), spec.Green},
			{"health unpinned", call{method: http.MethodGet, path: "/healthz"}, spec.Blue},
			{"ready unpinned with a user", call{method: http.MethodGet, path: "/ready"}.with(HeaderUserID, "u3"), spec.Blue},
		} {
			for range 5 {
				if got := mustColor(t, client, cfg.PublicAddr, tc.c); got != tc.want {
					t.Fatalf("weight %d%%, %s: %s, want %s", weight, tc.name, got, tc.want)
				}
			}
		}
		if weight == 0 || weight == 100 {
			want := map[int]spec.Color{0: spec.Blue, 100: spec.Green}[weight]
			for i := range 50 {
				for _, c := range []call{chatCall(""), idCall("path", fmt.Sprint("p", i)), chatCall(fmt.Sprint("b", i))} {
					if got := mustColor(t, client, cfg.PublicAddr, c); got != want {
						t.Fatalf("weight %d%%, %s: %s, want %s", weight, c.path, got, want)
					}
				}
			}
		}
		if err := p.VerifyRoute(ctx, spec.Blue, "v-blue"); err != nil {
			t.Errorf("weight %d%%: %v", weight, err)
		}
		if err := p.VerifyCanary(ctx, spec.Green, "v-green"); err != nil {
			t.Errorf("weight %d%%: %v", weight, err)
		}
		obs, err := p.Observe(ctx)
		if err != nil || obs.Active != spec.Blue || obs.Canary == nil || *obs.Canary != (Canary{Color: spec.Green, Weight: weight}) {
			t.Errorf("weight %d%%: Observe = %+v (canary %v), %v", weight, obs, obs.Canary, err)
		}
		if _, body := get(t, "http://"+cfg.AdminAddr+"/zdml/canary"); body != fmt.Sprintf("green %d", weight) {
			t.Errorf("admin /zdml/canary = %q", body)
		}
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := p.VerifyCanary(short, spec.Blue, "v-blue"); err == nil || !strings.Contains(err.Error(), "reaches green v-green, want blue v-blue") {
		t.Errorf("VerifyCanary(blue) with green as the canary = %v", err)
	}
	// Promotion ends the split: the canary becomes the active color.
	cfg.Active, cfg.Canary = spec.Green, nil
	if _, err := p.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if obs, err := p.Observe(ctx); err != nil || obs.Canary != nil || obs.Active != spec.Green {
		t.Errorf("after promotion: Observe = %+v, %v", obs, err)
	}
	if _, body := get(t, "http://"+cfg.AdminAddr+"/zdml/canary"); body != "none" {
		t.Errorf("admin /zdml/canary = %q, want none", body)
	}
}

// TestCanaryBodyUser: the "user" field of a large OpenAI body (900 KiB,
// also sent chunked) picks the same color as the same id in a header; the
// upstream gets the whole body exactly once; a body over the limit is 413.
func TestCanaryBodyUser(t *testing.T) {
	_, cfg, blue, green := canaryProxy(t, 50, nil)
	client := keepAliveClient(t, 1)
	big := func(user string) call {
		b, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": strings.Repeat("x", 900<<10)}}, "user": user})
		return call{method: http.MethodPost, path: "/v1/chat/completions", body: b}
	}
	seen := map[spec.Color]bool{}
	var sent int64
	for i := range 40 {
		u := fmt.Sprintf("big_%d", i)
		want := mustColor(t, client, cfg.PublicAddr, idCall("header", u))
		c := big(u)
		before := blue.requests.Load() + green.requests.Load()
		for _, chunked := range []bool{false, true} {
			c.chunked = chunked
			if got := mustColor(t, client, cfg.PublicAddr, c); got != want {
				t.Fatalf("user %s in a 900 KiB body (chunked %v): %s, by header %s", u, chunked, got, want)
			}
		}
		if n := blue.requests.Load() + green.requests.Load() - before; n != 2 {
			t.Fatalf("2 large POSTs reached the upstreams %d times", n)
		}
		sent += 2 * int64(len(c.body))
		seen[want] = true
	}
	if !seen[spec.Blue] || !seen[spec.Green] {
		t.Errorf("40 users at 50%% all on one color: %v", seen)
	}
	header := int64(0)
	for i := range 40 { // the header calls' bodies
		header += int64(len(idCall("header", fmt.Sprintf("big_%d", i)).body))
	}
	if got := blue.bytes.Load() + green.bytes.Load(); got != sent+header {
		t.Errorf("upstreams got %d body bytes, clients sent %d", got, sent+header)
	}
	over := call{method: http.MethodPost, path: "/v1/chat/completions", body: bytes.Repeat([]byte("x"), DefaultMaxBodySize+1)}
	for _, chunked := range []bool{false, true} {
		over.chunked = chunked
		if code, _, err := over.do(client, cfg.PublicAddr); err != nil || code != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized body (chunked %v): %d, %v; want 413", chunked, code, err)
		}
	}
}

// TestCanaryPerRequest: with sticky: none (PerRequest) one user id is split
// by weight request by request, and the body is not read for it.
func TestCanaryPerRequest(t *testing.T) {
	p, cfg, _, _ := canaryProxy(t, 50, nil)
	cfg.Canary.PerRequest = true
	if _, err := p.Ensure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	text, _, err := Render(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(text), "mirror_request_body") || strings.Contains(string(text), "map $request_body") {
		t.Error("a per-request split still reads the body")
	}
	client := keepAliveClient(t, 1)
	seen := map[spec.Color]int{}
	for range 200 {
		seen[mustColor(t, client, cfg.PublicAddr, idCall("header", "alice"))]++
	}
	t.Logf("one user id over 200 requests: %v", seen)
	if seen[spec.Green] < 60 || seen[spec.Blue] < 60 {
		t.Errorf("one user id at 50%% per request: %v, want both colors", seen)
	}
}

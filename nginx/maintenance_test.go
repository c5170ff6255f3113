package nginx

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/zero-downtime-ml/zdml/spec"
)

// maintenanceAnswer is the model server's error shape.
type maintenanceAnswer struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

// checkMaintenance asserts that a user route answers nginx's 503 with msg.
func checkMaintenance(t *testing.T, addr string, c call, msg string, retryAfter string) {
	t.Helper()
	req, _ := http.NewRequest(c.method, "http://"+addr+c.path, strings.NewReader(string(c.body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var got maintenanceAnswer
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", c.method, c.path, body, err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || got.Error.Message != msg || got.Error.Type != "maintenance" {
		t.Errorf("%s %s: %d %+v; want 503 with message %q", c.method, c.path, resp.StatusCode, got, msg)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", c.path, ct)
	}
	if ra := resp.Header.Get("Retry-After"); ra != retryAfter {
		t.Errorf("%s: Retry-After %q, want %q", c.path, ra, retryAfter)
	}
	if resp.Header.Get("X-Zdml-Config") == "" || resp.Header.Get("X-Model-Color") != "" {
		t.Errorf("%s: headers %v: want nginx's own answer with its config hash", c.path, resp.Header)
	}
}

// hostileMessages are user texts that would break a config, a JSON body or
// a shell if rendered carelessly.
var hostileMessages = []string{
	`it's "quoted"`,
	`back\slash \\ \n \" \' \u0024 literal escapes`,
	`$host $request_uri ${remote_addr} $`,
	`; } location / { return 200 'pwned'; } #`,
	"line1\nline2\r\n\ttab",
	"ünïcödé — 中文 😀 \u2028 \ufeff",
	"\x00 nul \x01 \x1f \x7f controls",
	`%s %d %% %{x}`,
	`</script><script>alert(1)</script> & <b>`,
	strings.Repeat("$'\\", MaxMaintenanceMessage/3),
	strings.Repeat("é", MaxMaintenanceMessage/2),
	strings.Repeat("\x01", MaxMaintenanceMessage), // the longest rendering: 7 bytes a byte
}

// TestMaintenanceHostileMessages: every hostile message reaches clients
// verbatim in the 503 body and the admin report, nginx accepts every config,
// and health routes still answer 200 from the active color.
func TestMaintenanceHostileMessages(t *testing.T) {
	ctx := context.Background()
	p, _, cfg := startedProxy(t, backend(t, spec.Blue, nil), backend(t, spec.Green, nil))
	for _, msg := range append(hostileMessages, "") {
		cfg.Maintenance = &Maintenance{Message: msg, RetryAfter: 45 * time.Second}
		if got, err := p.Ensure(ctx, cfg); err != nil || got != Reloaded {
			t.Fatalf("Ensure(maintenance %q) = %v, %v", msg, got, err)
		}
		want := msg
		if want == "" {
			want = DefaultMaintenanceMessage
		}
		for _, c := range []call{chatCall("u"), {method: http.MethodGet, path: "/v1/models"},
			{method: http.MethodPost, path: "/chat", body: []byte(`{}`)}, {method: http.MethodPost, path: "/chat/alice"}} {
			checkMaintenance(t, cfg.PublicAddr, c, want, "45")
		}
		for _, path := range []string{"/healthz", "/ready"} {
			if resp, _ := get(t, "http://"+cfg.PublicAddr+path); resp.StatusCode != 200 || resp.Header.Get("X-Model-Color") != "blue" {
				t.Errorf("%s in maintenance: %d from %q", path, resp.StatusCode, resp.Header.Get("X-Model-Color"))
			}
		}
		obs, err := p.Observe(ctx)
		if err != nil || obs.Maintenance == nil || *obs.Maintenance != (Maintenance{Message: want, RetryAfter: 45 * time.Second}) {
			t.Errorf("Observe in maintenance %q = %+v, %v", msg, obs.Maintenance, err)
		}
	}
	cfg.Maintenance = nil
	if _, err := p.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if obs, err := p.Observe(ctx); err != nil || obs.Maintenance != nil || obs.Active != spec.Blue {
		t.Errorf("Observe after maintenance off = %+v, %v", obs, err)
	}
}

// nginxUnquote is what nginx's config parser does to the inside of a
// quoted string (ngx_conf_read_token): \" \' \\ lose their backslash, \t
// \r \n become control characters, any other backslash stays.
func nginxUnquote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '"', '\'', '\\':
				i++
			case 't', 'r', 'n':
				b.WriteByte(map[byte]byte{'t': '\t', 'r': '\r', 'n': '\n'}[s[i+1]])
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FuzzMaintenanceBody: for any valid message the rendered 503 body is
// printable ASCII with no nginx variable and no unescaped quote, short
// enough for nginx's parser, and what nginx makes of it is JSON carrying
// the message exactly.
// Run: go test ./nginx -run '^$' -fuzz FuzzMaintenanceBody -fuzztime 1m
func FuzzMaintenanceBody(f *testing.F) {
	for _, m := range hostileMessages {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		m := (&Maintenance{Message: msg, RetryAfter: time.Second}).withDefaults()
		if m.Validate() != nil {
			if utf8.ValidString(msg) && len(msg) <= MaxMaintenanceMessage {
				t.Fatalf("valid message %q rejected: %v", msg, m.Validate())
			}
			return
		}
		for name, quoted := range map[string]string{"body": m.body() + `\n`, "report": m.report()} {
			if len(quoted)+2 >= nginxMaxToken { // with its quotes
				t.Fatalf("%s of a %d-byte message is %d bytes: nginx refuses a token that long", name, len(msg), len(quoted)+2)
			}
			for i := 0; i < len(quoted); i++ {
				c := quoted[i]
				if c < 0x20 || c > 0x7e || c == '$' || c == '\'' && (i == 0 || quoted[i-1] != '\\') {
					t.Fatalf("%s %q: byte %q at %d", name, quoted, c, i)
				}
			}
			var got struct {
				Message string `json:"message"`
				Error   struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(nginxUnquote(quoted)), &got); err != nil {
				t.Fatalf("%s %q: nginx serves invalid JSON: %v", name, quoted, err)
			}
			if got.Message+got.Error.Message != m.Message {
				t.Fatalf("%s: message %q, want %q", name, got.Message+got.Error.Message, m.Message)
			}
		}
	})
}

// TestMaintenanceUnderLoad: maintenance on and off under keep-alive load on
// user and health routes: no connection error; once on is applied, user
// routes answer 503 JSON with Retry-After and health routes 200; once off
// is applied, user traffic reaches the same active color again.
func TestMaintenanceUnderLoad(t *testing.T) {
	ctx := context.Background()
	p, _, cfg := startedProxy(t, backend(t, spec.Blue, nil), backend(t, spec.Green, nil))
	client := keepAliveClient(t, 8)
	type result struct {
		start  time.Time
		health bool
		code   int
		color  spec.Color
		err    error
	}
	var mu sync.Mutex
	var results []result
	run := &loadRun{} // counts the requests done, so each phase gets its share
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := chatCall("")
				if (w+i)%3 == 0 {
					c = call{method: http.MethodGet, path: "/healthz"}
				}
				r := result{start: time.Now(), health: c.path == "/healthz"}
				r.code, r.color, r.err = c.do(client, cfg.PublicAddr)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				run.done.Add(1)
			}
		}()
	}
	type phase struct {
		on        bool
		begin, at time.Time
	}
	phases := []phase{{false, time.Now(), time.Now()}}
	for _, on := range []bool{true, false, true, false} {
		run.settle(t, 60)
		begin := time.Now()
		cfg.Maintenance = nil
		if on {
			cfg.Maintenance = &Maintenance{Message: "upgrading; back soon", RetryAfter: 10 * time.Second}
		}
		if got, err := p.Ensure(ctx, cfg); err != nil || got != Reloaded {
			t.Fatalf("Ensure(maintenance %v) = %v, %v", on, got, err)
		}
		phases = append(phases, phase{on, begin, time.Now()})
	}
	run.settle(t, 60)
	close(stop)
	wg.Wait()

	counts := map[string]int{}
	for _, r := range results {
		if r.err != nil {
			counts["error"]++
			t.Errorf("request at %s: %v", r.start.Format("15:04:05.000"), r.err)
			continue
		}
		i := len(phases) - 1
		for i > 0 && r.start.Before(phases[i].at) {
			i--
		}
		if i+1 < len(phases) && !r.start.Before(phases[i+1].begin) {
			continue // started during a reload: either answer is right
		}
		want, wantColor := 200, spec.Blue
		if phases[i].on && !r.health {
			want, wantColor = 503, ""
		}
		if r.code != want || r.color != wantColor {
			t.Errorf("maintenance %v, health %v: %d from %q, want %d from %q", phases[i].on, r.health, r.code, r.color, want, wantColor)
		}
		counts[map[bool]string{true: "on", false: "off"}[phases[i].on]+map[bool]string{true: " health", false: " user"}[r.health]]++
	}
	t.Logf("%d requests over 4 verified reloads: %v", len(results), counts)
	if counts["on user"] == 0 || counts["on health"] == 0 || counts["off user"] == 0 {
		t.Errorf("the load did not cover every case: %v", counts)
	}
}

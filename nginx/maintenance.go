package nginx

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Maintenance defaults and limits.
const (
	DefaultMaintenanceMessage    = "the service is down for maintenance; retry later"
	DefaultMaintenanceRetryAfter = 30 * time.Second
	// MaxMaintenanceMessage bounds the message in bytes (of UTF-8). The
	// rendered body is one nginx config token, which must fit nginx's
	// 4096-byte read buffer (NGX_CONF_BUFFER; a longer one is "too long
	// parameter"), and a byte such as $ renders as \\u0024, 7 bytes: 512
	// bytes of the worst text render to 3.6 KB.
	MaxMaintenanceMessage = 512
	// nginxMaxToken is NGX_CONF_BUFFER: no config token may be this long.
	nginxMaxToken = 4096
	maxRetryAfter = 24 * time.Hour
)

// Maintenance makes the public listener answer its user routes (/chat,
// /chat/*, /v1/*) itself, as kamal-proxy's `stop --message` does: 503 with
// a Retry-After header and a JSON body in the model server's error shape,
// {"error":{"message":"<Message>","type":"maintenance"}}. Health routes
// (/healthz, /ready) are still proxied, so the colors stay observable and
// the active color is not lost; turning maintenance off restores traffic to
// the same Active (and canary split, if any).
type Maintenance struct {
	// Message is user text for the clients (default
	// DefaultMaintenanceMessage): any valid UTF-8 up to
	// MaxMaintenanceMessage bytes. It is rendered as \u escapes wherever
	// it could mean something to nginx or JSON, so quotes, backslashes, $,
	// ;, braces, newlines and non-ASCII arrive verbatim.
	Message string
	// RetryAfter is the Retry-After header, in whole seconds, 1 s to 24 h
	// (default 30 s).
	RetryAfter time.Duration
}

// withDefaults returns a copy of m with zero fields defaulted (the caller's
// Maintenance is never modified).
func (m *Maintenance) withDefaults() *Maintenance {
	if m == nil {
		return nil
	}
	c := *m
	str(&c.Message, DefaultMaintenanceMessage)
	dur(&c.RetryAfter, DefaultMaintenanceRetryAfter)
	return &c
}

// Validate checks a defaulted maintenance section: the CLI checks it before
// anything is recorded.
func (m *Maintenance) Validate() error {
	if m == nil {
		return nil
	}
	var errs []error
	if !utf8.ValidString(m.Message) {
		errs = append(errs, errors.New("maintenance message: not valid UTF-8"))
	}
	if n := len(m.Message); n > MaxMaintenanceMessage {
		errs = append(errs, fmt.Errorf("maintenance message: %d bytes, want at most %d", n, MaxMaintenanceMessage))
	}
	if m.RetryAfter < time.Second || m.RetryAfter > maxRetryAfter || m.RetryAfter%time.Second != 0 {
		errs = append(errs, fmt.Errorf("maintenance retry-after %s: want whole seconds from 1s to %s", m.RetryAfter, maxRetryAfter))
	}
	return errors.Join(errs...)
}

// RetryAfterSeconds is the Retry-After header value.
func (m *Maintenance) RetryAfterSeconds() int { return int(m.RetryAfter / time.Second) }

// body is the 503 answer's JSON as an nginx single-quoted string's inside.
func (m *Maintenance) body() string {
	return nginxQuote(`{"error":{"message":` + safeJSONString(m.Message) + `,"type":"maintenance"}}`)
}

// noMaintenance is what the admin listener's /zdml/maintenance answers
// when maintenance is off.
const noMaintenance = "off"

// maintenanceReport is the admin listener's /zdml/maintenance answer.
type maintenanceReport struct {
	Message    string `json:"message"`
	RetryAfter int    `json:"retry_after"`
}

// report is what /zdml/maintenance answers: "off", or
// {"message":"...","retry_after":30}, as an nginx single-quoted string's
// inside.
func (m *Maintenance) report() string {
	if m == nil {
		return noMaintenance
	}
	return nginxQuote(fmt.Sprintf(`{"message":%s,"retry_after":%d}`, safeJSONString(m.Message), m.RetryAfterSeconds()))
}

// parseMaintenance reads a /zdml/maintenance answer; "off" is nil.
func parseMaintenance(s string) (*Maintenance, error) {
	if s == noMaintenance {
		return nil, nil
	}
	var r maintenanceReport
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("nginx admin maintenance: %w", err)
	}
	return &Maintenance{Message: r.Message, RetryAfter: time.Duration(r.RetryAfter) * time.Second}, nil
}

// safeJSONString returns s as a JSON string literal of printable ASCII
// that means nothing to nginx's config parser or to its variables: letters,
// digits, space and some punctuation pass; everything else (quotes,
// backslashes, $, ;, braces, control characters, non-ASCII) becomes a
// \uXXXX escape (UTF-16, as JSON wants). s must be valid UTF-8.
func safeJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r < utf8.RuneSelf && isSafe(byte(r)) {
			b.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte(" .,:!?()-_/@+=*%&[]|~^<>#", c) >= 0
}

// nginxQuote escapes s for the inside of an nginx single-quoted string:
// nginx's parser turns \\ into \ and \' into ', and would turn \n into a
// newline. s must not contain $ (nginx would read a variable): the JSON of
// safeJSONString has none.
func nginxQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

package nginx

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Defaults of Config, applied by WithDefaults to zero fields.
const (
	DefaultPublicAddr            = "127.0.0.1:8080"
	DefaultAdminAddr             = "127.0.0.1:8081"
	DefaultWorkers               = 2
	DefaultWorkerConnections     = 1024
	DefaultMaxBodySize           = 1 << 20 // 1 MiB: a chat request with history fits easily
	DefaultClientHeaderTimeout   = 10 * time.Second
	DefaultClientBodyTimeout     = 30 * time.Second
	DefaultSendTimeout           = 60 * time.Second
	DefaultProxyConnectTimeout   = 5 * time.Second
	DefaultProxyReadTimeout      = 300 * time.Second // a long LLM stream may pause between tokens
	DefaultProxySendTimeout      = 60 * time.Second
	DefaultUpstreamKeepalive     = 32
	DefaultUpstreamKeepaliveTime = 60 * time.Second // below the model server's 120 s idle timeout
	// WorkerShutdownMargin is what WorkerShutdownTimeoutFor adds to a drain
	// timeout: the drain gives up first, and reports what is left, before
	// nginx cuts the streams an old worker still carries.
	WorkerShutdownMargin = 30 * time.Second
	// DefaultWorkerShutdownTimeout is WorkerShutdownTimeoutFor the default
	// drainTimeout (30 s): an old worker keeps a stream alive across a
	// reload for 60 s.
	DefaultWorkerShutdownTimeout = spec.DefaultDrainTimeout + WorkerShutdownMargin
)

// WorkerShutdownTimeoutFor is the Config.WorkerShutdownTimeout for a spec's
// drainTimeout: drain + WorkerShutdownMargin.
func WorkerShutdownTimeoutFor(drain time.Duration) time.Duration { return drain + WorkerShutdownMargin }

// Config is everything the rendered nginx.conf depends on. The zero value of
// a field means its default (see WithDefaults), except PublicKeepalive whose
// zero is the design: every public response closes its connection, so a
// reload never races a client reusing an idle connection (FINDINGS: 485 of
// 174k keep-alive POSTs failed across reloads with 65 s, none with 0).
type Config struct {
	// PublicAddr is the listener clients use (host:port).
	PublicAddr string
	// AdminAddr serves the config hash, the active color and stub_status. It
	// must be a loopback address: it is never public.
	AdminAddr string
	// Upstreams maps each color to the model server's host:port. Active must
	// be present; the other color may be absent.
	Upstreams map[spec.Color]string
	// Active is the color the public listener proxies to: during a canary,
	// the stable color.
	Active spec.Color
	// Canary, when set, splits user traffic between Active and the canary
	// color (see Canary); nil sends everything to Active.
	Canary *Canary
	// Maintenance, when set, answers user routes with 503 (see
	// Maintenance); nil serves them.
	Maintenance *Maintenance

	Workers           int // worker_processes
	WorkerConnections int
	// WorkerShutdownTimeout (worker_shutdown_timeout) bounds how long an old
	// worker keeps in-flight streams after a reload; then nginx closes them.
	// The caller sets drainTimeout + margin (WorkerShutdownTimeoutFor), so
	// a stream the drain waits for is never cut first. Default 60 s.
	WorkerShutdownTimeout time.Duration

	MaxBodySize         int64 // client_max_body_size in bytes; larger bodies get 413
	ClientHeaderTimeout time.Duration
	ClientBodyTimeout   time.Duration
	SendTimeout         time.Duration
	PublicKeepalive     time.Duration // keepalive_timeout on the public listener; keep 0

	ProxyConnectTimeout   time.Duration
	ProxyReadTimeout      time.Duration
	ProxySendTimeout      time.Duration
	UpstreamKeepalive     int           // idle keep-alive connections cached per worker and color
	UpstreamKeepaliveTime time.Duration // upstream keepalive_timeout

	// AccessLog writes logs/access.log (off by default: a load test writes
	// millions of lines).
	AccessLog bool
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	str(&c.PublicAddr, DefaultPublicAddr)
	str(&c.AdminAddr, DefaultAdminAddr)
	num(&c.Workers, DefaultWorkers)
	num(&c.WorkerConnections, DefaultWorkerConnections)
	num(&c.UpstreamKeepalive, DefaultUpstreamKeepalive)
	if c.MaxBodySize == 0 {
		c.MaxBodySize = DefaultMaxBodySize
	}
	dur(&c.WorkerShutdownTimeout, DefaultWorkerShutdownTimeout)
	dur(&c.ClientHeaderTimeout, DefaultClientHeaderTimeout)
	dur(&c.ClientBodyTimeout, DefaultClientBodyTimeout)
	dur(&c.SendTimeout, DefaultSendTimeout)
	dur(&c.ProxyConnectTimeout, DefaultProxyConnectTimeout)
	dur(&c.ProxyReadTimeout, DefaultProxyReadTimeout)
	dur(&c.ProxySendTimeout, DefaultProxySendTimeout)
	dur(&c.UpstreamKeepaliveTime, DefaultUpstreamKeepaliveTime)
	c.Maintenance = c.Maintenance.withDefaults()
	return c
}

func str(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func num(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func dur(p *time.Duration, def time.Duration) {
	if *p == 0 {
		*p = def
	}
}

// hostRE keeps addresses to characters that cannot break out of an nginx
// directive (no spaces, quotes, semicolons or braces).
var hostRE = regexp.MustCompile(`^[A-Za-z0-9._\-:\[\]]+$`)

// Validate checks a defaulted Config.
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(checkAddr("public addr", c.PublicAddr))
	add(checkAddr("admin addr", c.AdminAddr))
	if err := checkAddr("admin addr", c.AdminAddr); err == nil && !isLoopback(c.AdminAddr) {
		add(fmt.Errorf("admin addr %q: must be a loopback address", c.AdminAddr))
	}
	if c.PublicAddr == c.AdminAddr {
		add(fmt.Errorf("public and admin addr are both %q", c.PublicAddr))
	}
	if !c.Active.Valid() {
		add(fmt.Errorf("active color %q: want blue or green", c.Active))
	} else if c.Upstreams[c.Active] == "" {
		add(fmt.Errorf("no upstream address for the active color %s", c.Active))
	}
	for color, addr := range c.Upstreams {
		if !color.Valid() {
			add(fmt.Errorf("upstream color %q: want blue or green", color))
		}
		add(checkAddr("upstream "+string(color), addr))
	}
	for name, n := range map[string]int64{"workers": int64(c.Workers), "worker connections": int64(c.WorkerConnections),
		"upstream keepalive": int64(c.UpstreamKeepalive), "max body size": c.MaxBodySize} {
		if n <= 0 {
			add(fmt.Errorf("%s %d: want a positive number", name, n))
		}
	}
	add(c.validateTimeouts())
	add(c.Canary.validate(c))
	add(c.Maintenance.Validate())
	return errors.Join(errs...)
}

func (c Config) validateTimeouts() error {
	var errs []error
	for _, t := range []struct {
		name string
		d    time.Duration
	}{
		{"worker shutdown timeout", c.WorkerShutdownTimeout}, {"client header timeout", c.ClientHeaderTimeout},
		{"client body timeout", c.ClientBodyTimeout}, {"send timeout", c.SendTimeout},
		{"proxy connect timeout", c.ProxyConnectTimeout}, {"proxy read timeout", c.ProxyReadTimeout},
		{"proxy send timeout", c.ProxySendTimeout}, {"upstream keepalive time", c.UpstreamKeepaliveTime},
	} {
		// nginx's time syntax has no unit below ms: a finer value would be
		// rendered rounded (nginxDuration), not as given.
		if t.d < time.Millisecond || t.d%time.Millisecond != 0 {
			errs = append(errs, fmt.Errorf("%s %s: want whole milliseconds, at least 1ms", t.name, t.d))
		}
	}
	if c.PublicKeepalive < 0 || c.PublicKeepalive%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("public keepalive %s: want 0 or whole milliseconds", c.PublicKeepalive))
	}
	return errors.Join(errs...)
}

func checkAddr(what, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%s %q: bad port", what, addr)
	}
	if host == "" || !hostRE.MatchString(host) {
		return fmt.Errorf("%s %q: want host:port", what, addr)
	}
	return nil
}

func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

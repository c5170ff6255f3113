package nginx

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

//go:embed nginx.conf.tmpl
var confTemplate string

var tmpl = template.Must(template.New("nginx.conf").Funcs(template.FuncMap{"dur": nginxDuration}).Parse(confTemplate))

// HashLen is the length of a config hash in hex digits.
const HashLen = 16

// Header is the machine-readable first line of a rendered config. It lets a
// new Proxy find the admin listener of an nginx it adopts.
type Header struct {
	Hash   string     `json:"hash"`
	Active spec.Color `json:"active"`
	Public string     `json:"public"`
	Admin  string     `json:"admin"`
}

// headerMarker starts the header's JSON on the config's first line.
const headerMarker = "zdml: "

// Render renders cfg (defaults applied) to an nginx.conf and returns it with
// its hash. The hash is the sha256 of the text rendered with an empty hash,
// so it changes with anything that changes nginx's behaviour (the template
// included) and with nothing else. The running nginx reports it on the admin
// listener and in the X-Zdml-Config response header.
func Render(cfg Config) (text []byte, hash string, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, "", fmt.Errorf("nginx config: %w", err)
	}
	unhashed, err := execute(cfg, "")
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(unhashed)
	hash = hex.EncodeToString(sum[:])[:HashLen]
	text, err = execute(cfg, hash)
	return text, hash, err
}

type upstream struct {
	Color spec.Color
	Addr  string
}

type view struct {
	Config
	Hash      string
	Header    string
	Upstreams []upstream

	UserTarget   string // proxy_pass target of the user routes
	HealthTarget string // proxy_pass target of /healthz and /ready
	Weighted     bool   // a canary with 0 < weight < 100: the split needs a key
	Sticky       bool   // the key is the user id where there is one
	Unpinned     string // the side of an unpinned request: a split variable or a fixed side

	CanaryReport      string // what /zdml/canary answers
	MaintenanceReport string // what /zdml/maintenance answers
	MaintenanceBody   string // the 503 body of a user route in maintenance
}

func execute(cfg Config, hash string) ([]byte, error) {
	v := view{Config: cfg, Hash: hash, UserTarget: "zdml_" + string(cfg.Active), HealthTarget: "zdml_" + string(cfg.Active),
		CanaryReport: cfg.Canary.report(), MaintenanceReport: cfg.Maintenance.report()}
	if s := cfg.Canary; s != nil {
		v.UserTarget, v.HealthTarget, v.Weighted = "$zdml_route", "$zdml_health", s.weighted()
		v.Sticky = v.Weighted && !s.PerRequest
		switch {
		case v.Weighted:
			v.Unpinned = "$zdml_split"
		case s.Weight == 0:
			v.Unpinned = "stable"
		default:
			v.Unpinned = "canary"
		}
	}
	if cfg.Maintenance != nil {
		v.MaintenanceBody = cfg.Maintenance.body()
	}
	for _, c := range spec.Colors {
		if addr, ok := cfg.Upstreams[c]; ok {
			v.Upstreams = append(v.Upstreams, upstream{Color: c, Addr: addr})
		}
	}
	h, err := json.Marshal(Header{Hash: hash, Active: cfg.Active, Public: cfg.PublicAddr, Admin: cfg.AdminAddr})
	if err != nil {
		return nil, err
	}
	v.Header = string(h)
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("render nginx config: %w", err)
	}
	return b.Bytes(), nil
}

// ParseHeader reads the Header from a rendered config's first line.
func ParseHeader(conf []byte) (Header, error) {
	first, _, _ := bytes.Cut(conf, []byte("\n"))
	_, js, ok := strings.Cut(string(first), headerMarker)
	var h Header
	if !ok {
		return h, fmt.Errorf("nginx config: no zdml header (not rendered by zdml)")
	}
	if err := json.Unmarshal([]byte(js), &h); err != nil {
		return h, fmt.Errorf("nginx config header: %w", err)
	}
	return h, nil
}

// nginxDuration writes d in nginx's time syntax: whole seconds as "30s",
// anything finer in milliseconds.
func nginxDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

var workerShutdownRe = regexp.MustCompile(`(?m)^\s*worker_shutdown_timeout\s+(\d+)(ms|s)\s*;`)

// WorkerShutdownTimeoutOf reads the worker_shutdown_timeout of a rendered
// config. An old worker keeps its own config's value after a reload, so
// this is how long the workers a reload retires may still carry a stream.
// ok is false when the config sets none (nginx then waits for ever).
func WorkerShutdownTimeoutOf(conf []byte) (d time.Duration, ok bool) {
	m := workerShutdownRe.FindSubmatch(conf)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	if string(m[2]) == "ms" {
		return time.Duration(n) * time.Millisecond, true
	}
	return time.Duration(n) * time.Second, true
}

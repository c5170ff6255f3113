package reconciler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ActionResult is the body of an answer to POST /<action>.
type ActionResult struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Handler is the daemon's API: GET /status, GET /history, GET /metrics
// (from gatherer), and POST /<action> for each of Actions (an optional
// JSON Request body carries the arguments), which waits for the action to
// finish. It must be served only on a loopback address: it can deploy and
// roll back.
func (r *Reconciler) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, r.Status()) })
	mux.HandleFunc("GET /history", r.handleHistory)
	if gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	for _, a := range Actions {
		mux.HandleFunc("POST /"+a, func(w http.ResponseWriter, req *http.Request) {
			args := Request{}
			if err := json.NewDecoder(io.LimitReader(req.Body, 64<<10)).Decode(&args); err != nil && !errors.Is(err, io.EOF) {
				writeJSON(w, http.StatusBadRequest, ActionResult{Error: "body: " + err.Error()})
				return
			}
			args.Action = a
			msg, err := r.Do(req.Context(), args)
			if err != nil {
				code := http.StatusConflict
				if errors.Is(err, context.Canceled) {
					code = http.StatusServiceUnavailable
				}
				writeJSON(w, code, ActionResult{Error: err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, ActionResult{OK: true, Message: msg})
		})
	}
	return mux
}

func (r *Reconciler) handleHistory(w http.ResponseWriter, req *http.Request) {
	n := 20
	if v := req.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, ActionResult{Error: "n: want a non-negative integer"})
			return
		}
	}
	recs, err := ReadHistory(r.cfg.StateDir, n)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, ActionResult{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, recs)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ServeAPI serves Handler on ln until ctx ends.
func (r *Reconciler) ServeAPI(ctx context.Context, ln net.Listener, gatherer prometheus.Gatherer) error {
	// No write timeout: POST actions answer when their deploy is over.
	srv := &http.Server{Handler: r.Handler(gatherer), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: r.cfg.APIIdleTimeout}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api: %w", err)
	}
	return nil
}

// Client talks to a running daemon's API; `zdml status` and the load
// harness (loadgen) read GET /status through it.
type Client struct {
	addr string // as given, for errors
	base string // http://host:port
	http *http.Client
}

// NewClient returns a client for the API at addr: host:port, or a base URL
// such as http://127.0.0.1:9400.
func NewClient(addr string) *Client {
	base := strings.TrimRight(addr, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{addr: addr, base: base, http: &http.Client{Transport: &http.Transport{Proxy: nil}}}
}

// Status fetches GET /status.
func (c *Client) Status(ctx context.Context) (StatusReport, error) {
	var rep StatusReport
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := c.get(ctx, "/status", &rep)
	return rep, err
}

// History fetches the last n deploys.
func (c *Client) History(ctx context.Context, n int) ([]DeployRecord, error) {
	var recs []DeployRecord
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := c.get(ctx, "/history?n="+strconv.Itoa(n), &recs)
	return recs, err
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reconciler api %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("reconciler api %s%s: %s: %s", c.addr, path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Do asks the daemon to take an action and waits for the outcome.
func (c *Client) Do(ctx context.Context, a Request) (string, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/"+a.Action, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("reconciler api %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	var res ActionResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return "", fmt.Errorf("reconciler api %s: %s: %w", c.addr, resp.Status, err)
	}
	if !res.OK {
		return "", errors.New(res.Error)
	}
	return res.Message, nil
}

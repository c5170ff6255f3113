package modelserver

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Response headers every answer carries (the load harness and the nginx
// swap check read them).
const (
	HeaderColor     = "X-Model-Color"
	HeaderVersion   = "X-Model-Version"
	HeaderRequestID = "X-Request-Id"
)

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// identify sets the identity headers on every response, errors and health
// included, before any handler runs. It keeps a sane incoming X-Request-Id
// (nginx may set one) and makes one otherwise. While draining it asks
// clients (nginx) not to reuse the connection.
func (s *Server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !requestIDRe.MatchString(id) {
			id = newRequestID()
		}
		h := w.Header()
		h.Set(HeaderColor, s.cfg.Color.String())
		h.Set(HeaderVersion, s.model.Version)
		h.Set(HeaderRequestID, id)
		if s.draining.Load() {
			h.Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// handle registers a route: pattern is also its metrics label; methods maps
// each allowed method to its handler, and any other method gets 405 with an
// Allow header and a JSON error.
func (s *Server) handle(mux *http.ServeMux, label string, patterns []string, methods map[string]http.HandlerFunc) {
	allowed := make([]string, 0, len(methods))
	for m := range methods {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	h := s.instrument(label, func(w http.ResponseWriter, r *http.Request) {
		if f, ok := methods[r.Method]; ok {
			f(w, r)
			return
		}
		if r.Method == http.MethodHead && methods[http.MethodGet] != nil {
			methods[http.MethodGet](w, r)
			return
		}
		w.Header().Set("Allow", allow)
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error",
			Message: "method " + r.Method + " not allowed on " + label + "; allowed: " + allow})
	})
	for _, p := range patterns {
		mux.Handle(p, h)
	}
}

// instrument counts and times requests under their route label.
func (s *Server) instrument(route string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.observeRequest(route, code, d.Seconds())
		level := slog.LevelDebug
		if code >= 500 && code != http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		s.log.Log(r.Context(), level, "request", "method", r.Method, "route", route, "code", code,
			"seconds", d.Seconds(), "request_id", w.Header().Get(HeaderRequestID))
	})
}

// statusRecorder remembers the status code. It keeps Flush working (SSE)
// and exposes the writer underneath to http.ResponseController.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

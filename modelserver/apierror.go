package modelserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// apiError is an error with the HTTP answer it deserves. Its body has
// OpenAI's error shape, so OpenAI clients read it too:
// {"error":{"message":"...","type":"...","param":"..."}}.
type apiError struct {
	Status     int    `json:"-"`
	Message    string `json:"message"`
	Type       string `json:"type"`
	Param      string `json:"param,omitempty"`
	RetryAfter int    `json:"-"` // seconds, for 503
}

func (e *apiError) Error() string { return e.Message }

// statusClientClosed is nginx's code for a client that went away; it only
// appears in metrics, as nobody is left to read it.
const statusClientClosed = 499

func invalid(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Message: fmt.Sprintf(format, args...)}
}

func unavailable(typ string, retryAfter int, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Type: typ, RetryAfter: retryAfter, Message: fmt.Sprintf(format, args...)}
}

// asAPIError maps any error from a handler onto its HTTP answer.
func asAPIError(err error) *apiError {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error",
			Message: fmt.Sprintf("request body larger than the limit of %d bytes", mbe.Limit)}
	case errors.Is(err, ErrQueueFull):
		return unavailable("server_busy", 2, "every slot is busy and the queue is full; retry later")
	case errors.Is(err, ErrPromptTooLong):
		return invalid("messages", "%v", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: statusClientClosed, Type: "cancelled", Message: "request cancelled: " + err.Error()}
	}
	return &apiError{Status: http.StatusInternalServerError, Type: "server_error", Message: err.Error()}
}

// writeError writes err as a JSON error response.
func writeError(w http.ResponseWriter, err error) {
	ae := asAPIError(err)
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	writeJSON(w, ae.Status, map[string]*apiError{"error": ae})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decodeJSON reads exactly one JSON object into v, refusing unknown fields,
// trailing data and bodies over limit bytes, with messages that say what is
// wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if r.ContentLength > limit {
		return &http.MaxBytesError{Limit: limit}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return invalid("", "invalid JSON: trailing data after the object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return invalid("", "empty body: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "invalid JSON: the body ends early")
	case errors.As(err, &syn):
		return invalid("", "invalid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalid("", "invalid JSON: want an object, got %s", typ.Value)
		}
		return invalid(typ.Field, "field %q: want %s, got %s", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(field, "unknown field %q", field)
	}
	return invalid("", "invalid JSON: %v", err)
}

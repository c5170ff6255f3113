package loadgen

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Response headers the model server sets, naming who served a request.
const (
	HeaderColor   = "X-Model-Color"
	HeaderVersion = "X-Model-Version"
)

// Annotation headers are measurements the harness adds to each
// vegeta.Result's Headers beside the response's own, so that the raw
// results file alone carries everything a report needs (vegeta's own
// report and plot ignore them). They are never sent to the server, except
// HeaderKind, which labels the request.
const (
	HeaderKind   = "X-Loadgen-Kind"    // request kind (chat, chat_user, completions, completions_stream)
	HeaderTTFT   = "X-Loadgen-Ttft-Ns" // time to the first streamed token, nanoseconds from the request's start
	HeaderStatus = "X-Loadgen-Status"  // HTTP status received, even when the body failed afterwards
	HeaderReused = "X-Loadgen-Reused"  // "true" when the request went out on a kept-alive connection
	// HeaderMaxTokens is the request's max_tokens; the targeter sends it
	// with the request (the server ignores it) and the result keeps it.
	HeaderMaxTokens = "X-Loadgen-Max-Tokens"
	// HeaderTokens is how many tokens a stream said it generated (its
	// usage chunk).
	HeaderTokens = "X-Loadgen-Tokens"
)

// Record is one request, flattened from a vegeta.Result and its annotations.
type Record struct {
	Seq     uint64
	Kind    string
	Start   time.Time
	Latency time.Duration
	// TTFT is the time to the first token of a stream; 0 when not a stream
	// or when no token arrived.
	TTFT    time.Duration
	Status  int // HTTP status received (0 when none)
	Error   string
	Color   string
	Version string
	// Reused is true when the request was sent on a kept-alive connection;
	// ReuseKnown says whether the raw result recorded it (older runs did not).
	Reused, ReuseKnown bool
	// MaxTokens is the max_tokens asked for (0 in runs that did not record
	// it); Tokens what a stream reported generating (0 when not a stream).
	MaxTokens, Tokens int
}

// Class is the request's kind and length, "completions_stream/512": the
// rows of a report's per-kind table (a mix may hold short requests and
// long streams of one kind).
func (r Record) Class() string {
	if r.MaxTokens == 0 {
		return r.Kind
	}
	return r.Kind + "/" + strconv.Itoa(r.MaxTokens)
}

// Failed reports whether the request failed: a transport error, a
// timeout, a stream cut before [DONE], or a status other than 2xx.
func (r Record) Failed() bool {
	return r.Error != "" || r.Status < 200 || r.Status > 299
}

// End is when the request finished.
func (r Record) End() time.Time { return r.Start.Add(r.Latency) }

// RecordOf flattens one raw result.
func RecordOf(res *vegeta.Result) Record {
	rec := Record{
		Seq: res.Seq, Start: res.Timestamp, Latency: res.Latency,
		Status: int(res.Code), Error: res.Error,
	}
	h := res.Headers
	if h == nil {
		return rec
	}
	rec.Kind = h.Get(HeaderKind)
	rec.Color = h.Get(HeaderColor)
	rec.Version = h.Get(HeaderVersion)
	rec.Reused, rec.ReuseKnown = h.Get(HeaderReused) == "true", h.Get(HeaderReused) != ""
	if v, err := strconv.ParseInt(h.Get(HeaderTTFT), 10, 64); err == nil {
		rec.TTFT = time.Duration(v)
	}
	rec.MaxTokens, _ = strconv.Atoi(h.Get(HeaderMaxTokens))
	rec.Tokens, _ = strconv.Atoi(h.Get(HeaderTokens))
	if rec.Status == 0 {
		if v, err := strconv.Atoi(h.Get(HeaderStatus)); err == nil {
			rec.Status = v
		}
	}
	return rec
}

// ReadResults decodes a raw results file in any of vegeta's encodings
// (gob, JSON, CSV) into records, in file order.
func ReadResults(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	dec := vegeta.DecoderFor(f)
	if dec == nil {
		return nil, fmt.Errorf("results %s: not a vegeta results file (gob, JSON or CSV)", path)
	}
	var out []Record
	for {
		var res vegeta.Result
		if err := dec.Decode(&res); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("results %s: record %d: %w", path, len(out)+1, err)
		}
		out = append(out, RecordOf(&res))
	}
}

// ErrorType groups an error into a short, bounded label for reports.
func ErrorType(r Record) string {
	e := strings.ToLower(r.Error)
	switch {
	case !r.Failed():
		return ""
	case r.Status != 0 && (r.Status < 200 || r.Status > 299):
		return fmt.Sprintf("HTTP %d", r.Status)
	case strings.HasPrefix(e, strings.ToLower(errStreamTruncated.Error())):
		return "stream truncated"
	case strings.HasPrefix(e, strings.ToLower(errStreamError.Error())):
		return "stream error event" // before timeout: the server's message may say "timeout"
	case strings.Contains(e, "timeout") || strings.Contains(e, "deadline exceeded"):
		return "timeout"
	case strings.Contains(e, strings.ToLower(errStreamCut.Error())):
		return "stream cut before [DONE]"
	case strings.Contains(e, "connection refused"):
		return "connection refused"
	case strings.Contains(e, "connection reset"):
		return "connection reset"
	case strings.Contains(e, "server closed idle connection"):
		return "server closed idle connection"
	case strings.Contains(e, "eof"):
		return "EOF"
	case r.Error != "":
		return "other: " + firstLine(r.Error, 60)
	}
	return "no status"
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

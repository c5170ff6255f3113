package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"
)

// errStreamCut is the error of a stream that ended before "data: [DONE]".
var errStreamCut = errors.New("stream ended before data: [DONE]")

// observation is what the transport saw of one request that vegeta's
// Result cannot hold: the time to the first streamed token and the
// response headers even when the body failed.
type observation struct {
	kind    string
	reused  bool // the request went out on a kept-alive connection
	status  int
	headers http.Header
	ttft    time.Duration
}

// observer is an http.RoundTripper around a keep-alive transport. It
// records, per vegeta sequence number, what the Result lacks, and makes a
// stream that ends without "data: [DONE]" fail with errStreamCut.
type observer struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen map[uint64]*observation
}

var _ http.RoundTripper = (*observer)(nil)

func newObserver(base http.RoundTripper) *observer {
	return &observer{base: base, seen: map[uint64]*observation{}}
}

// RoundTrip sends req and wraps the body of a streaming response.
func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	seq, seqErr := strconv.ParseUint(req.Header.Get("X-Vegeta-Seq"), 10, 64)
	kind := req.Header.Get(HeaderKind)
	obs := &observation{kind: kind}
	if seqErr == nil {
		o.mu.Lock()
		o.seen[seq] = obs
		o.mu.Unlock()
	}
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		o.mu.Lock()
		obs.reused = ci.Reused
		o.mu.Unlock()
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := o.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	o.mu.Lock()
	obs.status, obs.headers = resp.StatusCode, resp.Header
	o.mu.Unlock()
	if kind == KindStream && resp.StatusCode == http.StatusOK {
		resp.Body = &sseBody{rc: resp.Body, start: start, obs: obs, mu: &o.mu}
	}
	return resp, nil
}

// take removes and returns the observation of seq.
func (o *observer) take(seq uint64) *observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	obs := o.seen[seq]
	delete(o.seen, seq)
	return obs
}

// sseBody watches a server-sent event stream go by: the first event with
// content sets the TTFT, "data: [DONE]" marks it complete, and EOF before
// that is errStreamCut.
type sseBody struct {
	rc    io.ReadCloser
	start time.Time
	obs   *observation
	mu    *sync.Mutex
	line  []byte // an unfinished line carried over between reads
	done  bool
}

func (b *sseBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.scan(p[:n])
	}
	switch {
	case err == nil || b.done:
		return n, err
	case errors.Is(err, io.EOF):
		return n, errStreamCut
	}
	return n, fmt.Errorf("%w: %w", errStreamCut, err)
}

func (b *sseBody) Close() error { return b.rc.Close() }

func (b *sseBody) scan(chunk []byte) {
	b.line = append(b.line, chunk...)
	for {
		i := bytes.IndexByte(b.line, '\n')
		if i < 0 {
			return
		}
		b.event(bytes.TrimSpace(b.line[:i]))
		b.line = b.line[i+1:]
	}
}

func (b *sseBody) event(line []byte) {
	data, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok {
		return
	}
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("[DONE]")) {
		b.done = true
		return
	}
	b.mu.Lock()
	first := b.obs.ttft == 0
	b.mu.Unlock()
	if first && hasContent(data) {
		b.mu.Lock()
		b.obs.ttft = time.Since(b.start)
		b.mu.Unlock()
	}
}

// hasContent reports whether an OpenAI chunk carries generated text.
func hasContent(data []byte) bool {
	var c struct {
		Choices []struct {
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if json.Unmarshal(data, &c) != nil {
		return false
	}
	for _, ch := range c.Choices {
		if ch.Delta.Content != "" {
			return true
		}
	}
	return false
}

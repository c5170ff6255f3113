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

// Errors of a stream that did not run its course. A stream fails when it
// ends before "data: [DONE]" (cut), when it carried an error event, or
// when it closed properly but short: no finish_reason, a finish_reason
// other than stop or length, or "length" with fewer tokens than asked.
var (
	errStreamCut       = errors.New("stream ended before data: [DONE]")
	errStreamError     = errors.New("stream carried an error event")
	errStreamTruncated = errors.New("stream truncated")
)

// observation is what the transport saw of one request that vegeta's
// Result cannot hold: the time to the first streamed token and the
// response headers even when the body failed.
type observation struct {
	kind      string
	maxTokens int
	reused    bool // the request went out on a kept-alive connection
	status    int
	headers   http.Header
	ttft      time.Duration
	tokens    int // completion tokens a stream's usage chunk reported
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
	obs.maxTokens, _ = strconv.Atoi(req.Header.Get(HeaderMaxTokens))
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
		resp.Body = &sseBody{rc: resp.Body, start: start, obs: obs, mu: &o.mu, tokens: -1}
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
// that is errStreamCut. At EOF after [DONE] it judges what the stream said
// (verdict).
type sseBody struct {
	rc     io.ReadCloser
	start  time.Time
	obs    *observation
	mu     *sync.Mutex
	line   []byte // an unfinished line carried over between reads
	done   bool
	errMsg string // the message of an error event, if one came
	finish string // the last finish_reason seen
	tokens int    // completion_tokens of the usage chunk (-1 without one)
}

func (b *sseBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.scan(p[:n])
	}
	switch {
	case err == nil:
		return n, nil
	case b.done && errors.Is(err, io.EOF):
		if v := b.verdict(); v != nil {
			return n, v
		}
		return n, err
	case b.done:
		return n, err
	case errors.Is(err, io.EOF):
		return n, errStreamCut
	}
	return n, fmt.Errorf("%w: %w", errStreamCut, err)
}

// verdict is nil for a stream that ran its course, else why it did not.
func (b *sseBody) verdict() error {
	b.mu.Lock()
	want := b.obs.maxTokens
	b.mu.Unlock()
	switch {
	case b.errMsg != "":
		return fmt.Errorf("%w: %s", errStreamError, b.errMsg)
	case b.finish == "":
		return fmt.Errorf("%w: [DONE] without a finish_reason", errStreamTruncated)
	case b.finish != "stop" && b.finish != "length":
		return fmt.Errorf("%w: finish_reason %q", errStreamTruncated, b.finish)
	case b.finish == "length" && b.tokens >= 0 && want > 0 && b.tokens < want:
		return fmt.Errorf("%w: finish_reason length after %d of %d tokens", errStreamTruncated, b.tokens, want)
	}
	return nil
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
	var c sseChunk
	if json.Unmarshal(data, &c) != nil {
		return
	}
	if c.Error != nil {
		b.errMsg = firstLine(c.Error.Message, 80)
	}
	if c.Usage != nil {
		b.tokens = c.Usage.CompletionTokens
		b.mu.Lock()
		b.obs.tokens = c.Usage.CompletionTokens
		b.mu.Unlock()
	}
	for _, ch := range c.Choices {
		if ch.FinishReason != nil {
			b.finish = *ch.FinishReason
		}
		if ch.Delta.Content == "" {
			continue
		}
		b.mu.Lock()
		if b.obs.ttft == 0 {
			b.obs.ttft = time.Since(b.start)
		}
		b.mu.Unlock()
	}
}

// sseChunk is the part of an OpenAI stream chunk (or error event) the
// harness reads.
type sseChunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}
